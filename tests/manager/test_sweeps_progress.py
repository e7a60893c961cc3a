"""A sweep's cases once queued: the scheduler runs them as room frees up, ``GET SESSION_SWEEP``
shows the progress and each case, ``DELETE`` cancels what has not run, and ``GET
SESSION_SWEEPS`` lists the caller's sweeps."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from backendai.common.batch_tasks import (
    SESSION_SWEEP,
    SESSION_SWEEPS,
    SESSION_TASK_LOGS,
    BatchTask,
)
from backendai.common.statuses import SessionStatus
from backendai.manager.db.models import Session
from tests.fixtures.platform import ManagerHarness, running_manager
from tests.manager.conftest import FAST, session_row, wait_status
from tests.manager.fake_agent import FakeAgent
from tests.manager.test_sweeps import SEED_CODE, post_sweep


@pytest.fixture
async def small_agent(platform: ManagerHarness) -> AsyncIterator[FakeAgent]:
    """An agent with room for two 1-CPU cases at a time."""
    fake = FakeAgent(cpu=2)
    await fake.start()
    try:
        assert await fake.send_heartbeat(platform) == 200
        yield fake
    finally:
        await fake.close()


async def sweep_info(platform: ManagerHarness, sweep_id: str, as_: str = "demo") -> Any:
    resp = await platform.signed("GET", SESSION_SWEEP.format(sweep_id=sweep_id), as_=as_)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def until(check: Callable[[], Awaitable[bool]], within: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, "the condition did not become true in time"
        await asyncio.sleep(0.05)


async def finish_case(
    platform: ManagerHarness, agent: FakeAgent, session_id: str, exit_code: int
) -> None:
    """The case's task ends on the agent (which says so): the session ends by itself."""
    kernel_id = uuid.UUID(session_id)  # a single-kernel session's main kernel has its id
    await agent.finish_task(platform, kernel_id, exit_code, output=f"out {session_id}\n".encode())
    await wait_status(platform, kernel_id, SessionStatus.TERMINATED)


async def test_twelve_cases_on_room_for_two_run_two_at_a_time_until_all_ran(
    platform: ManagerHarness, small_agent: FakeAgent
) -> None:
    status, body = await post_sweep(platform, name="twelve", env_range=["X=range:0,12"])
    assert status == 201 and body["cases"] == 12, body
    sweep_id = body["id"]
    most_at_once = 0
    for round_ in range(6):
        info: dict[str, Any] = {}

        async def two_running() -> bool:
            nonlocal info, most_at_once
            most_at_once = max(most_at_once, len(small_agent.containers))
            info = await sweep_info(platform, sweep_id)
            return bool(info["counts"]["running"] == 2)

        await until(two_running)
        left = 12 - 2 * round_
        assert info["counts"] == {"pending": left - 2, "running": 2, "success": round_,
                                  "failure": round_, "cancelled": 0}  # fmt: skip
        assert info["finished"] is False
        running = [c for c in info["caseList"] if c["status"] == "RUNNING"]
        for case in running:
            await finish_case(
                platform, small_agent, case["session_id"], 0 if case["index"] % 2 else 3
            )
    assert most_at_once == 2
    info = await sweep_info(platform, sweep_id)
    assert info["finished"] is True
    assert info["counts"] == {"pending": 0, "running": 0, "success": 6, "failure": 6,
                              "cancelled": 0}  # fmt: skip
    assert [(c["status"], c["result"], c["exit_code"]) for c in info["caseList"]] == [
        ("TERMINATED", "SUCCESS", 0) if i % 2 else ("TERMINATED", "FAILURE", 3) for i in range(12)
    ]
    # Each case reached the agent once, as a batch session with its task and environment.
    calls = sorted(small_agent.create_calls, key=lambda c: int(c.environ["CASENO"]))
    assert [c.environ["CASENO"] for c in calls] == [str(i) for i in range(12)]
    assert all(c.task == BatchTask(mode="query", code=SEED_CODE) for c in calls)
    # ... and its output stays readable after it ended.
    last = info["caseList"][11]["session_id"]
    resp = await platform.signed("GET", f"{SESSION_TASK_LOGS}?taskId={last}&follow=0")
    assert resp.status == 200 and await resp.text() == f"out {last}\n"


async def test_delete_cancels_the_waiting_cases_and_terminates_the_running_ones(
    platform: ManagerHarness, small_agent: FakeAgent
) -> None:
    status, body = await post_sweep(platform, name="stop", env_range=["X=range:0,5"])
    assert status == 201, body
    sweep_id = body["id"]

    async def two_running() -> bool:
        return bool((await sweep_info(platform, sweep_id))["counts"]["running"] == 2)

    await until(two_running)
    resp = await platform.signed("DELETE", SESSION_SWEEP.format(sweep_id=sweep_id))
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer["counts"]["pending"] == 0 and answer["counts"]["cancelled"] >= 3, answer
    statuses = {c["session_id"]: c["status"] for c in answer["caseList"]}
    for sid, st in statuses.items():
        ended = SessionStatus.CANCELLED if st == "CANCELLED" else SessionStatus.TERMINATED
        await wait_status(platform, sid, ended)
    info = await sweep_info(platform, sweep_id)
    assert info["finished"] is True
    # The two it terminated never finished their task: a failure or cancelled, as the
    # session's result says (the batch sessions' rule), never a success.
    counts = info["counts"]
    assert counts["cancelled"] >= 3 and counts["cancelled"] + counts["failure"] == 5, counts
    assert sorted(c["status"] for c in info["caseList"]) == ["CANCELLED"] * 3 + ["TERMINATED"] * 2
    assert len(small_agent.create_calls) == 2 and len(small_agent.destroy_calls) == 2
    # Deleting again changes nothing and still answers the sweep.
    resp = await platform.signed("DELETE", SESSION_SWEEP.format(sweep_id=sweep_id))
    assert resp.status == 200 and (await resp.json())["counts"] == counts


async def test_a_failed_case_counts_as_a_failure_and_is_left_for_reading(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    status, body = await post_sweep(platform, name="fails", env_range=["X=range:0,2"])
    assert status == 201, body
    first = body["caseList"][0]["session_id"]
    async with platform.ctx.db() as db, db.begin():
        s = await db.get_one(Session, uuid.UUID(first))
        await platform.ctx.control.mark_failed(db, s, "start-failed", "no such file")
    resp = await platform.signed("DELETE", SESSION_SWEEP.format(sweep_id=body["id"]))
    info = await resp.json()
    assert info["counts"] == {"pending": 0, "running": 0, "success": 0, "failure": 1,
                              "cancelled": 1}  # fmt: skip
    assert (await session_row(platform, first)).status is SessionStatus.ERROR


async def test_list_is_the_callers_newest_first_and_bounded(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    ids = []
    for name in ("first", "second", "third"):
        status, body = await post_sweep(platform, name=name)
        assert status == 201, body
        ids.append(body["id"])
    resp = await platform.signed("GET", SESSION_SWEEPS)
    assert resp.status == 200
    sweeps = (await resp.json())["sweeps"]
    assert [s["id"] for s in sweeps] == ids[::-1]
    assert [s["name"] for s in sweeps] == ["third", "second", "first"]
    assert sweeps[0]["cases"] == 4 and sweeps[0]["counts"]["pending"] == 4
    assert "caseList" not in sweeps[0]
    resp = await platform.signed("GET", f"{SESSION_SWEEPS}?limit=2")
    assert [s["id"] for s in (await resp.json())["sweeps"]] == ids[:0:-1]
    for bad in ("0", "501", "many"):
        resp = await platform.signed("GET", f"{SESSION_SWEEPS}?limit={bad}")
        assert resp.status == 400, bad
        assert "limit" in (await resp.json())["msg"]
    resp = await platform.signed("GET", SESSION_SWEEPS, as_="superadmin")
    assert (await resp.json())["sweeps"] == []


async def test_the_main_flow_on_each_engine(db_url: str, tmp_path: Path) -> None:
    """Create (names, lock), progress, listing and the chunked cancel on SQLite and PostgreSQL."""
    async with running_manager(tmp_path, db_url, **FAST) as harness:
        agent = FakeAgent(cpu=2)
        await agent.start()
        try:
            assert await agent.send_heartbeat(harness) == 200
            status, body = await post_sweep(harness, name="engine", env_range=["X=range:0,5"])
            assert status == 201, body
            sweep_id = body["id"]

            def running(n: int) -> Callable[[], Awaitable[bool]]:
                async def check() -> bool:
                    info = await sweep_info(harness, sweep_id)
                    return bool(info["counts"]["running"] == n)

                return check

            await until(running(2))
            await finish_case(harness, agent, body["caseList"][0]["session_id"], 0)
            await until(running(2))
            status, again = await post_sweep(harness, name="engine", env_range=["X=range:0,5"])
            assert status == 400 and "engine-1" in again["msg"], again
            resp = await harness.signed("DELETE", SESSION_SWEEP.format(sweep_id=sweep_id))
            assert resp.status == 200, await resp.text()
            counts = (await resp.json())["counts"]
            assert counts["pending"] == 0 and counts["success"] == 1, counts
            assert counts["cancelled"] >= 2, counts
            resp = await harness.signed("GET", SESSION_SWEEPS)
            [listed] = (await resp.json())["sweeps"]
            assert listed["id"] == sweep_id and listed["cases"] == 5
            assert listed["counts"]["success"] == 1 and listed["counts"]["pending"] == 0
        finally:
            await agent.close()
