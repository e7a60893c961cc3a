"""The agent's file work pool: its own threads, a cap per kernel, a time bound on each op."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from backendai.agent.errors import FileOperationTimeout
from backendai.agent.file_work import Deadline, FileWork, Held

A, B = uuid.uuid4(), uuid.uuid4()


@pytest.fixture
async def work() -> AsyncIterator[FileWork]:
    pool = FileWork(workers=4, per_kernel=2, timeout=1.0)
    yield pool
    pool.close()


async def until(check: Callable[[], bool], within: float = 5) -> None:
    """Wait for a condition that threads change (nothing to await on for it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "the condition did not become true in time"
        await asyncio.sleep(0.01)


def blocked(gate: threading.Event) -> Callable[[Deadline], str]:
    def op(_: Deadline) -> str:
        gate.wait(10)
        return "done"

    return op


async def test_work_runs_in_the_agents_own_threads(work: FileWork) -> None:
    name = await work.run(A, "Naming", lambda _: threading.current_thread().name)
    assert name.startswith("file-work-")


async def test_one_kernel_never_takes_every_worker(work: FileWork) -> None:
    gate = threading.Event()
    try:
        stuck = [asyncio.create_task(work.run(A, "Stuck", blocked(gate))) for _ in range(6)]
        await until(lambda: work.in_use(A) == 2)
        started = time.monotonic()
        assert await work.run(B, "Other", lambda _: "other") == "other"
        assert time.monotonic() - started < 0.5
        results = await asyncio.gather(*stuck, return_exceptions=True)
        # Two ran (and time out); the four that queued behind them waited as long, and say so.
        waited = [r for r in results if isinstance(r, FileOperationTimeout) and "waited" in str(r)]
        assert len(waited) == 4
        assert "earlier file operations (2 run at a time)" in str(waited[0])
    finally:
        gate.set()


async def test_a_stuck_operation_keeps_its_slot_until_its_thread_returns(work: FileWork) -> None:
    gate = threading.Event()
    with pytest.raises(FileOperationTimeout, match=r"Stuck took longer than 1 s"):
        await work.run(A, "Stuck", blocked(gate))
    assert work.in_use(A) == 1  # given up on, still running: still counted
    gate.set()
    await until(lambda: work.in_use(A) == 0)


async def test_work_that_watches_its_deadline_stops_on_its_own(work: FileWork) -> None:
    def loop(deadline: Deadline) -> None:
        while True:
            deadline.check()
            time.sleep(0.01)

    with pytest.raises(FileOperationTimeout):
        await work.run(A, "Looping", loop)
    await until(lambda: work.in_use(A) == 0)


async def test_held_things_are_released_after_the_last_thread_returns(work: FileWork) -> None:
    gate = threading.Event()
    released: list[str] = []
    held = Held(work, A, "resource", released.append)

    def slow(_: str, deadline: Deadline) -> None:
        gate.wait(10)

    with pytest.raises(FileOperationTimeout):
        await held.run("Slow", slow)
    held.release()
    assert released == []  # its thread still uses it
    gate.set()
    await until(lambda: released == ["resource"])
    held.release()
    assert released == ["resource"]


async def test_per_kernel_must_be_below_workers() -> None:
    with pytest.raises(ValueError, match="smaller than workers"):
        FileWork(workers=2, per_kernel=2, timeout=1)
