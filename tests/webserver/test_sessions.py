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
        throttle.record_failure("A@x.org")
    assert throttle.seconds_locked("a@x.org") == 0
    throttle.record_failure("a@x.org")
    assert throttle.seconds_locked("a@X.org") == 60
    clock.now += 59.5
    assert throttle.seconds_locked("a@x.org") == 1
    clock.now += 1
    assert throttle.seconds_locked("a@x.org") == 0
    # After the lock expires one more failure does not lock again at once.
    throttle.record_failure("a@x.org")
    assert throttle.seconds_locked("a@x.org") == 0


def test_success_resets_the_count() -> None:
    throttle = LoginThrottle(max_failures=2, lock_seconds=60, clock=FakeClock())
    throttle.record_failure("u")
    throttle.record_success("u")
    throttle.record_failure("u")
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
