"""Several managers on one PostgreSQL, played in one process by schedulers and session controls
that hold different ``ManagerLease``s: a session is launched by exactly one of them, also when
their passes run at the same time; a launch left behind by a manager that is gone is taken over,
one that a live manager is doing is not; recovery at start leaves a live peer's work alone."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from backendai.common.statuses import SessionStatus as S
from backendai.manager.db.liveness import ManagerLease
from backendai.manager.lifecycle import load_for_update, transition
from backendai.manager.scheduler.dispatcher import Scheduler
from backendai.manager.scheduler.launcher import KernelLauncher
from backendai.manager.services.launch_outcomes import LaunchReports
from backendai.manager.services.session_control import SessionControl
from tests.fixtures.database import temporary_postgres_database
from tests.fixtures.platform import ManagerHarness, running_manager
from tests.manager.conftest import FAST, create, session_row, wait_status
from tests.manager.fake_agent import FakeAgent

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@asynccontextmanager
async def _platform(tmp_path: Path, postgres_url: str) -> AsyncIterator[ManagerHarness]:
    """A manager whose own scheduler is stopped: the tests' "managers" do the passes."""
    async with (
        temporary_postgres_database(postgres_url) as url,
        running_manager(tmp_path, url, **FAST) as m,
    ):
        await m.ctx.scheduler.close()
        yield m


@asynccontextmanager
async def _peer(m: ManagerHarness) -> AsyncIterator[tuple[ManagerLease, Scheduler]]:
    """Another manager process, as far as claims go: its own lease and scheduler."""
    lease = ManagerLease(m.ctx.engine)
    await lease.acquire()
    control = SessionControl(m.ctx.db, m.ctx.agent_client, lease=lease)
    launcher = KernelLauncher(m.ctx.db, m.ctx.agent_client, LaunchReports(m.ctx.db, control), lease)
    scheduler = Scheduler(m.ctx.db, launcher, interval=3600)
    try:
        yield lease, scheduler
    finally:
        await scheduler.close(grace=0.1)
        await lease.release()


async def _enqueue(m: ManagerHarness, agent: FakeAgent, n: int) -> list[uuid.UUID]:
    assert await agent.send_heartbeat(m) == 200
    ids = []
    for i in range(n):
        status, body = await create(m, f"claim-{uuid.uuid4().hex[:6]}-{i}", enqueueOnly=True)
        assert status == 201, body
        ids.append(uuid.UUID(body["sessionId"]))
    return ids


async def test_concurrent_passes_of_two_managers_launch_each_session_once(
    tmp_path: Path, postgres_url: str
) -> None:
    agent = FakeAgent(cpu=16, create_delay=0.05)
    await agent.start()
    try:
        async with _platform(tmp_path, postgres_url) as m, _peer(m) as (_, a), _peer(m) as (_, b):
            ids = await _enqueue(m, agent, 12)
            for _ in range(3):  # both managers pass at once, again and again
                await asyncio.gather(a.run_pass(), b.run_pass())
            await asyncio.gather(a.wait_launches(), b.wait_launches())
            for sid in ids:
                assert (await session_row(m, sid)).status is S.RUNNING
            creates = Counter(req.session_id for req in agent.create_calls)
            assert set(creates) == set(ids) and set(creates.values()) == {1}, creates
    finally:
        await agent.close()


async def test_a_launch_is_taken_over_only_when_its_manager_is_gone(
    tmp_path: Path, postgres_url: str
) -> None:
    agent = FakeAgent(create_delay=30)  # the first manager's launch hangs on the agent
    await agent.start()
    try:
        async with _platform(tmp_path, postgres_url) as m, _peer(m) as (_, live):
            [sid] = await _enqueue(m, agent, 1)
            async with _peer(m) as (gone, first):
                await first.run_pass()
                s = await wait_status(m, sid, S.PREPARING)
                assert ManagerLease.owner(s.status_data) == gone.id
                await live.run_pass()  # the first manager is alive: hands off
                await asyncio.sleep(0.2)
                assert len(agent.create_calls) == 1
            # the first manager is gone (its lease released, its launch cancelled)
            agent.create_delay = 0
            await live.run_pass()
            await live.wait_launches()
            s = await session_row(m, sid)
            assert s.status is S.RUNNING and len(agent.create_calls) == 2
    finally:
        await agent.close()


async def test_recovery_at_start_leaves_a_live_peers_work_alone(
    tmp_path: Path, postgres_url: str
) -> None:
    agent = FakeAgent()
    await agent.start()
    try:
        async with _platform(tmp_path, postgres_url) as m, _peer(m) as (launcher_lease, launcher):
            [sid] = await _enqueue(m, agent, 1)
            await launcher.run_pass()
            await launcher.wait_launches()
            async with _peer(m) as (busy, _):
                async with m.ctx.db() as db, db.begin():  # the peer is ending it right now
                    s = await load_for_update(db, sid)
                    assert s is not None
                    await transition(db, s, S.TERMINATING, reason="user-requested",
                                     data=busy.claim())  # fmt: skip
                starting = SessionControl(m.ctx.db, m.ctx.agent_client, lease=m.ctx.lease)
                assert await starting.resume() == 0
                assert agent.destroy_calls == []
            # the peer died half-way: one of two managers starting at once carries on for it
            other = SessionControl(m.ctx.db, m.ctx.agent_client, lease=launcher_lease)
            assert sorted(await asyncio.gather(starting.resume(), other.resume())) == [0, 1]
            await asyncio.gather(starting.close(), other.close())
            assert (await session_row(m, sid)).status is S.TERMINATED
            assert agent.destroy_calls == [next(iter(agent.created))]
    finally:
        await agent.close()
