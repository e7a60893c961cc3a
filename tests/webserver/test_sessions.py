import pytest

from backendai.common.errors import LoginLocked
from backendai.webserver.sessions import LoginSessionStore, LoginThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_locks_and_unlocks() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(max_failures=3, lock_seconds=60, clock=clock)
    for _ in range(2):
        throttle.begin("A@x.org").fail()
    assert throttle.seconds_locked("a@x.org") == 0
    throttle.begin(" a@x.org").fail()
    assert throttle.seconds_locked("a@X.org") == 60
    with pytest.raises(LoginLocked, match="try again in 60 s") as locked:
        throttle.begin("a@x.org")
    assert locked.value.retry_after == 60
    clock.now += 59.5
    assert throttle.seconds_locked("a@x.org") == 1
    clock.now += 1
    assert throttle.seconds_locked("a@x.org") == 0
    # After the lock expires one more failure does not lock again at once.
    throttle.begin("a@x.org").fail()
    assert throttle.seconds_locked("a@x.org") == 0


def test_attempts_in_progress_count_against_the_limit() -> None:
    throttle = LoginThrottle(max_failures=3, lock_seconds=60, clock=FakeClock())
    running = [throttle.begin("u") for _ in range(3)]
    # None has failed yet: the old lock-out let a fourth (the right password) through here.
    with pytest.raises(LoginLocked, match=r"3 in progress.*try again in 60 s"):
        throttle.begin("u")
    running[0].succeed()  # the right password among them wins and clears the count
    throttle.begin("u")


def test_success_resets_the_count() -> None:
    throttle = LoginThrottle(max_failures=2, lock_seconds=60, clock=FakeClock())
    throttle.begin("u").fail()
    throttle.begin("u").succeed()
    throttle.begin("u").fail()
    assert throttle.seconds_locked("u") == 0


def test_sessions_expire_when_idle() -> None:
    clock = FakeClock()
    store = LoginSessionStore(max_age=100, clock=clock)
    token = store.create("AK", "SK", "u@x", "user")
    assert store.get(token) is not None
    clock.now += 99
    assert store.get(token) is not None  # use refreshes it
    clock.now += 101
    assert store.get(token) is None
    assert store.get("forged") is None
    assert store.get(None) is None


def test_public_id_is_not_the_token() -> None:
    store = LoginSessionStore(max_age=100, clock=FakeClock())
    token = store.create("AK", "SK", "u@x", "user")
    session = store.get(token)
    assert session is not None
    assert session.public_id and session.public_id != token
    assert session.public_id not in token
