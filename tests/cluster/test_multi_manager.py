"""Two manager processes on one PostgreSQL with Redis events, three fake agents of different
capacities, 200 concurrent creates against that capacity and a keypair concurrency limit.

The database is sampled throughout (each sample one consistent snapshot): no agent ever holds
more than its capacity, no keypair more than its limit. Every kernel is created exactly once
(counted on the agents) and every session runs once, as others end (they are terminated as
soon as they run, through either manager).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backendai.common.statuses import SessionStatus as S
from backendai.manager.db.models import Kernel, Session, SessionStatusChange
from backendai.manager.lifecycle import OCCUPYING_STATUSES
from tests.cluster.conftest import RedisServer
from tests.cluster.harness import Cluster, cluster

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

AGENT_CPUS = (2, 3, 5)  # 10 one-cpu sessions at once, at most
LIMIT = 5  # per keypair: two keypairs, 10 at once, so capacity and the limit both bind
SESSIONS = 200
USERS = ("demo", "superadmin")
DEADLINE_S = 100.0
SAMPLE_S = 0.1


@dataclass
class Samples:
    count: int = 0
    agent_cpu: Counter[str] = field(default_factory=Counter)  # the most used at once
    keypair: Counter[str] = field(default_factory=Counter)
    running_at_once: int = 0
    violations: list[str] = field(default_factory=list)


async def _sample(engine: AsyncEngine, capacity: dict[str, int], out: Samples) -> None:
    """One consistent snapshot: what every agent holds and how many sessions each keypair
    has past PENDING."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            kernels = (await conn.execute(
                sa.select(Kernel.agent, Kernel.occupied_slots)
                .where(Kernel.status.in_(OCCUPYING_STATUSES), Kernel.agent.is_not(None))
            )).all()  # fmt: skip
            keypairs = (await conn.execute(
                sa.select(Session.access_key, sa.func.count())
                .where(Session.status.in_(OCCUPYING_STATUSES)).group_by(Session.access_key)
            )).all()  # fmt: skip
    used: Counter[str] = Counter()
    for agent, slots in kernels:
        used[str(agent)] += int(Decimal(slots.get("cpu", "0")))
    out.count += 1
    out.running_at_once = max(out.running_at_once, len(kernels))
    for agent, cpu in used.items():
        out.agent_cpu[agent] = max(out.agent_cpu[agent], cpu)
        if cpu > capacity[agent]:
            out.violations.append(f"{agent} holds {cpu} cpu of {capacity[agent]}")
    for access_key, n in keypairs:
        out.keypair[access_key] = max(out.keypair[access_key], n)
        if n > LIMIT:
            out.violations.append(f"{access_key} has {n} sessions past PENDING, limit {LIMIT}")


async def _sampler(engine: AsyncEngine, capacity: dict[str, int], out: Samples) -> None:
    while True:
        await _sample(engine, capacity, out)
        await asyncio.sleep(SAMPLE_S)


async def _terminator(c: Cluster, owners: dict[str, str]) -> None:
    """Terminate every session as soon as it runs, alternating managers, until all ended."""
    asked: set[uuid.UUID] = set()
    pending: set[asyncio.Task[Any]] = set()
    turn = 0
    try:
        await _terminate_running(c, owners, asked, pending, turn)
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def _terminate_running(
    c: Cluster, owners: dict[str, str], asked: set[uuid.UUID], pending: set[asyncio.Task[Any]],
    turn: int,
) -> None:  # fmt: skip
    while True:
        async with c.engine.connect() as conn:
            rows = (await conn.execute(sa.select(Session.id, Session.name, Session.status))).all()
        if len(rows) == SESSIONS and all(status is S.TERMINATED for _, _, status in rows):
            await asyncio.gather(*pending)
            return
        for sid, name, status in rows:
            if status is S.RUNNING and sid not in asked:
                asked.add(sid)
                turn += 1
                task = asyncio.create_task(
                    c.call(turn % 2, owners[name], "DELETE", f"/session/{name}")
                )
                pending.add(task)
                task.add_done_callback(pending.discard)
        await asyncio.sleep(0.05)


async def _phase_durations(engine: AsyncEngine) -> dict[str, str]:
    """Median and p90 of each step of a session's life, from its status history."""
    async with engine.connect() as conn:
        rows = (await conn.execute(
            sa.select(SessionStatusChange.session_id, SessionStatusChange.status,
                      SessionStatusChange.changed_at)
        )).all()  # fmt: skip
    at: dict[uuid.UUID, dict[S, float]] = {}
    for sid, status, changed in rows:
        at.setdefault(sid, {})[status] = changed.timestamp()
    steps = [(S.SCHEDULED, S.PREPARING), (S.PREPARING, S.RUNNING), (S.RUNNING, S.TERMINATING),
             (S.TERMINATING, S.TERMINATED)]  # fmt: skip
    out = {}
    for a, b in steps:
        d = sorted(t[b] - t[a] for t in at.values() if a in t and b in t)
        if d:
            out[f"{a.value}->{b.value}"] = f"{d[len(d) // 2]:.2f}/{d[len(d) * 9 // 10]:.2f}"
    return out


async def test_two_managers_never_overallocate_nor_launch_twice(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer
) -> None:
    async with cluster(
        tmp_path, postgres_url, redis_server.url, agent_cpus=AGENT_CPUS, concurrency_limit=LIMIT,
        create_delay=0.02,
    ) as c:  # fmt: skip
        capacity = {a.agent_id: int(a.slots["cpu"]) for a in c.agents}
        samples = Samples()
        sampler = asyncio.create_task(_sampler(c.engine, capacity, samples))
        owners = {f"mm-{i:03d}": USERS[(i // 2) % 2] for i in range(SESSIONS)}
        started = time.monotonic()
        terminator = asyncio.create_task(_terminator(c, owners))
        try:
            results = await asyncio.gather(
                *(c.create(i % 2, owners[name], name) for i, name in enumerate(owners))
            )
            refused = [(status, body) for status, body in results if status != 201]
            assert not refused, refused[:3]
            await asyncio.wait_for(asyncio.shield(terminator), DEADLINE_S)
        finally:
            terminator.cancel()
            sampler.cancel()
            await asyncio.gather(terminator, sampler, return_exceptions=True)
        elapsed = time.monotonic() - started
        await _sample(c.engine, capacity, samples)

        creates = Counter(req.kernel_id for a in c.agents for req in a.create_calls)
        async with c.engine.connect() as conn:
            history = (await conn.execute(
                sa.select(SessionStatusChange.status, sa.func.count())
                .where(SessionStatusChange.status.in_([S.SCHEDULED, S.PREPARING, S.RUNNING]))
                .group_by(SessionStatusChange.session_id, SessionStatusChange.status)
            )).all()  # fmt: skip
        phases = await _phase_durations(c.engine)
        print(
            f"\nmedian/p90 seconds per phase: {phases}"
            f"\n{SESSIONS} sessions through 2 managers in {elapsed:.1f} s; {samples.count} "
            f"samples; most cpu held at once per agent {dict(samples.agent_cpu)} of {capacity}; "
            f"most sessions past PENDING per keypair {dict(samples.keypair)} (limit {LIMIT}); "
            f"most kernels holding resources at once {samples.running_at_once}; "
            f"agent create calls {sum(creates.values())} for {len(creates)} kernels"
        )
        assert not samples.violations, samples.violations[:5]
        assert samples.count >= 20  # sampled throughout, not only at the end
        assert len(creates) == SESSIONS and max(creates.values()) == 1, creates.most_common(3)
        per_status = Counter(status for status, n in history if n == 1)
        assert per_status == {S.SCHEDULED: SESSIONS, S.PREPARING: SESSIONS, S.RUNNING: SESSIONS}
        # both limits were reached at some point, so both were really tested
        assert max(samples.keypair.values()) == LIMIT
        assert any(samples.agent_cpu[a] == cap for a, cap in capacity.items())


async def test_an_event_on_one_manager_reaches_a_listener_on_the_other(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer
) -> None:
    async with cluster(tmp_path, postgres_url, redis_server.url, agent_cpus=(2,)) as c:
        rel_url = "/events/session?name=cross-manager"
        headers = c.stream_headers(1, "demo", rel_url)
        async with c.http.get(c.managers[1].url + rel_url, headers=headers) as stream:
            assert stream.status == 200
            status, body = await c.create(0, "demo", "cross-manager")
            assert status == 201, body

            async def first_event() -> str:
                while True:
                    line = (await stream.content.readline()).decode().strip()
                    if line.startswith("event: "):
                        return line.removeprefix("event: ")

            assert await asyncio.wait_for(first_event(), 10) == "session_enqueued"
