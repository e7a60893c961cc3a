"""The job queue through both CLIs on the live platform: a session that cannot fit now waits and
shows why and where in the queue (``ps --detail``, ``info``); a session for an unknown resource
group is refused naming it; and (our CLI) ``start --count 3`` makes three sessions.

Every name is unique per test and CLI; what a test starts it removes.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from backendai.common.statuses import AgentStatus
from backendai.manager.db.engine import create_engine, create_session_factory
from backendai.manager.db.models import Agent, Session
from tests.compat.conftest import Runner, api_env
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.compat]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def output(r: object) -> str:
    return f"{getattr(r, 'stdout', '')}{getattr(r, 'stderr', '')}"


async def _read(server: LiveServer, query: sa.Select[Any]) -> list[Any]:
    engine = create_engine(f"sqlite:///{server.data_dir / 'backendai.db'}")
    try:
        async with create_session_factory(engine)() as db:
            return list(await db.scalars(query))
    finally:
        await engine.dispose()


def agent_cpus(server: LiveServer) -> Decimal:
    rows = asyncio.run(
        _read(server, sa.select(Agent.available_slots).where(Agent.status == AgentStatus.ALIVE))
    )
    return max(Decimal(str(slots.get("cpu", "0"))) for slots in rows if isinstance(slots, dict))


def session_id(server: LiveServer, name: str) -> str:
    rows = asyncio.run(_read(server, sa.select(Session.id).where(Session.name == name)))
    assert rows, f"no session {name}"
    return str(rows[-1])


@pytest.mark.docker
def test_waiting_session_shows_reason_and_position(cli: Runner, live_server: LiveServer) -> None:
    env = api_env(live_server)
    total = agent_cpus(live_server)
    holder, waiter = unique("hold"), unique("wait")
    try:
        r = cli("start", "-t", holder, "-r", f"cpu={total}", "python", env=env)
        assert r.returncode == 0, output(r)
        # Fits the agent's total but not what is free now: it waits.
        r = cli("start", "-t", waiter, "-r", "cpu=1", "--enqueue-only", "python", env=env)
        assert r.returncode == 0, output(r)
        deadline = time.monotonic() + 20
        while True:
            ps = cli("ps", "--detail", env=env)
            line = " ".join(ln for ln in ps.stdout.splitlines() if waiter in ln)
            if "queue position" in ps.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "PENDING" in line, ps.stdout
        assert re.search(r"queue position \d+", ps.stdout), ps.stdout
        info = cli("info", session_id(live_server, waiter), env=env)
        assert info.returncode == 0, output(info)
        assert "PENDING" in info.stdout
        assert re.search(r"Status Info:\s+.*queue position \d+", info.stdout), info.stdout
        assert "queue_position" in info.stdout  # Status Data keeps the record
    finally:
        cli("rm", waiter, holder, env=env)


def test_unknown_scaling_group_is_refused_naming_it(cli: Runner, live_server: LiveServer) -> None:
    ghost = unique("nogroup")
    r = cli(
        "start", "-t", unique("sg"), "--scaling-group", ghost, "--enqueue-only", "python",
        env=api_env(live_server),
    )  # fmt: skip
    assert r.returncode != 0 or "rror" in output(r), output(r)
    assert ghost in output(r)


def test_start_count_makes_three_sessions(
    cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params["cli"] == "official":
        pytest.skip("client 20.9.9 has no --count (the web UI's Sessions slider)")
    env = api_env(live_server)
    base = unique("trio")
    try:
        r = cli("start", "-t", base, "--count", "3", "--enqueue-only", "python", env=env)
        assert r.returncode == 0, output(r)
        for i in (1, 2, 3):
            assert f"Session {base}-{i} " in output(r), output(r)
        ps = cli("ps", "--name-only", env=env)
        assert all(f"{base}-{i}" in ps.stdout for i in (1, 2, 3)), ps.stdout
    finally:
        cli("rm", *(f"{base}-{i}" for i in (1, 2, 3)), env=env)
