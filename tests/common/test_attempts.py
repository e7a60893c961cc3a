"""The attempt limiter: attempts count from their start, so no burst gets past the limit."""

from __future__ import annotations

import pytest

from backendai.common.attempts import AttemptLimiter, AttemptsExhausted


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_attempts_in_flight_fill_the_budget() -> None:
    limiter = AttemptLimiter(max_attempts=3, lock_seconds=60, clock=FakeClock())
    started = [limiter.begin("u") for _ in range(3)]
    # Nothing has failed yet, but three checks are running: a fourth may not join them.
    with pytest.raises(AttemptsExhausted) as refused:
        limiter.begin("u")
    assert refused.value.in_flight == 3
    assert refused.value.failures == 0
    assert refused.value.retry_after == 60  # if they all fail, the lock runs a full minute
    started[0].release()  # one was never checked: its place is free again
    limiter.begin("u")


def test_failures_lock_until_lock_seconds_after_the_last() -> None:
    clock = FakeClock()
    limiter = AttemptLimiter(max_attempts=2, lock_seconds=60, clock=clock)
    limiter.begin("u").fail()
    clock.now += 10
    limiter.begin("u").fail()
    assert limiter.seconds_locked("u") == 60
    clock.now += 59.5
    with pytest.raises(AttemptsExhausted) as refused:
        limiter.begin("u")
    assert refused.value.retry_after == 1
    assert refused.value.failures == 2
    clock.now += 1
    assert limiter.seconds_locked("u") == 0
    limiter.begin("u").fail()  # the old failures are forgotten: one more does not lock
    assert limiter.seconds_locked("u") == 0


def test_success_clears_the_key_and_other_keys_are_apart() -> None:
    limiter = AttemptLimiter(max_attempts=2, lock_seconds=60, clock=FakeClock())
    limiter.begin("u").fail()
    limiter.begin("v").fail()
    limiter.begin("u").succeed()
    limiter.begin("u").fail()
    assert limiter.seconds_locked("u") == 0
    limiter.begin("v").fail()
    assert limiter.seconds_locked("v") == 60
    assert limiter.seconds_locked("u") == 0


def test_an_attempt_ends_once() -> None:
    limiter = AttemptLimiter(max_attempts=2, lock_seconds=60, clock=FakeClock())
    attempt = limiter.begin("u")
    attempt.fail()
    attempt.fail()
    attempt.succeed()
    limiter.begin("u")  # one failure and one in flight: still within two


def test_idle_keys_are_swept() -> None:
    clock = FakeClock()
    limiter = AttemptLimiter(max_attempts=5, lock_seconds=60, clock=clock)
    for i in range(100):
        limiter.begin(f"guess-{i}@example.com").fail()
    assert len(limiter) == 100
    clock.now += 120
    limiter.begin("later").release()
    assert len(limiter) == 0
