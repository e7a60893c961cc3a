"""Password checks run in their own bounded thread pool, never on the event loop."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from backendai.common.errors import TooManyRequests
from backendai.manager.services import passwords
from backendai.manager.services.passwords import (
    DUMMY_HASH,
    ROUNDS,
    PasswordPool,
    hash_password,
)

HASHED = hash_password("right")


async def test_check_and_hash() -> None:
    pool = PasswordPool(workers=1, queue=4)
    try:
        assert await pool.check("right", HASHED)
        assert not await pool.check("wrong", HASHED)
        assert not await pool.check("right", "not-a-bcrypt-hash")
        made = await pool.hash("another")
        assert await pool.check("another", made)
    finally:
        pool.close()


def test_the_dummy_hash_costs_what_ours_cost() -> None:
    # An unknown email is checked against DUMMY_HASH: if its cost drifted from ROUNDS the time
    # of the answer would tell which emails exist.
    assert DUMMY_HASH.startswith(f"$2b${ROUNDS:02d}$")
    assert HASHED.startswith(f"$2b${ROUNDS:02d}$")


async def test_no_user_costs_a_real_check_and_never_matches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[str] = []
    real = passwords.check_password

    def spy(password: str, hashed: str) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(passwords, "check_password", spy)
    pool = PasswordPool(workers=1, queue=4)
    try:
        assert not await pool.check("anything", None)
        assert checked == [DUMMY_HASH]
        unknown, wrong = [], []
        for _ in range(3):
            started = time.perf_counter()
            await pool.check("guess", None)
            unknown.append(time.perf_counter() - started)
            started = time.perf_counter()
            await pool.check("guess", HASHED)
            wrong.append(time.perf_counter() - started)
        assert statistics.median(unknown) > 0.5 * statistics.median(wrong)
    finally:
        pool.close()


async def test_the_event_loop_keeps_running_while_checks_run() -> None:
    pool = PasswordPool(workers=2, queue=8)
    started = time.perf_counter()
    await pool.check("wrong", HASHED)
    one_check = time.perf_counter() - started
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - started - 0.01)

    tick = asyncio.create_task(ticker())
    try:
        results = await asyncio.gather(*(pool.check("wrong", HASHED) for _ in range(6)))
    finally:
        tick.cancel()
        pool.close()
    assert results == [False] * 6
    # On the loop each check would have held it for one_check; in the pool it never waits
    # that long, however loaded the machine.
    assert len(lags) > 20
    assert max(lags) < 0.5 * one_check, (max(lags), one_check)


async def test_a_flood_beyond_the_queue_is_refused_at_once() -> None:
    pool = PasswordPool(workers=1, queue=1)
    try:
        outcomes = await asyncio.gather(
            *(pool.check("wrong", HASHED) for _ in range(5)), return_exceptions=True
        )
        refused = [o for o in outcomes if isinstance(o, TooManyRequests)]
        assert outcomes.count(False) == 2
        assert len(refused) == 3
        assert refused[0].retry_after is not None and refused[0].retry_after >= 1
        assert "busy checking" in str(refused[0])
        assert pool.admitted == 0
        assert not await pool.check("wrong", HASHED)  # and the pool serves again afterwards
    finally:
        pool.close()


async def test_a_caller_that_gives_up_frees_its_place_only_when_the_work_ends() -> None:
    pool = PasswordPool(workers=1, queue=0)
    try:
        running = asyncio.create_task(pool.check("wrong", HASHED))
        await asyncio.sleep(0.05)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        # The thread still hashes: the bound still counts it.
        assert pool.admitted == 1
        with pytest.raises(TooManyRequests):
            await pool.check("wrong", HASHED)
        for _ in range(100):
            if pool.admitted == 0:
                break
            await asyncio.sleep(0.02)
        assert pool.admitted == 0
    finally:
        pool.close()
