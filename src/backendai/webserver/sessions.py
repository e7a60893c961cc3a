"""Login sessions and the lock-out of accounts after repeated failed logins.

Both live in the webserver's memory: a restart logs everyone out, which is the safe side.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from backendai.common.attempts import Attempt, AttemptLimiter, AttemptsExhausted, Clock
from backendai.common.errors import LoginLocked


@dataclass
class LoginSession:
    access_key: str
    secret_key: str
    email: str
    role: str
    last_seen: float
    # What login-check shows as session_id: names the login, but is not the cookie's value,
    # which is the credential and must stay out of reach of the page's scripts.
    public_id: str = field(default_factory=lambda: secrets.token_hex(16))


@dataclass
class LoginSessionStore:
    max_age: float
    clock: Clock = time.monotonic
    _sessions: dict[str, LoginSession] = field(default_factory=dict)

    def create(self, access_key: str, secret_key: str, email: str, role: str) -> str:
        token = secrets.token_urlsafe(32)
        self._sessions[token] = LoginSession(access_key, secret_key, email, role, self.clock())
        return token

    def get(self, token: str | None) -> LoginSession | None:
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        now = self.clock()
        if now - session.last_seen > self.max_age:
            del self._sessions[token]
            return None
        session.last_seen = now
        return session

    def drop(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)


class LoginThrottle:
    """Locks a user name for ``lock_seconds`` once ``max_failures`` logins for it failed.

    Attempts count from when they start (``AttemptLimiter``): checking a password takes the
    manager a while, and counting only finished failures let a burst of concurrent guesses,
    and the right password among them, through before the first failure was recorded.
    """

    def __init__(self, max_failures: int, lock_seconds: float, clock: Clock = time.monotonic):
        self._limiter = AttemptLimiter(max_failures, lock_seconds, clock)

    def begin(self, username: str) -> Attempt:
        """Count a login for ``username``; ``LoginLocked`` says for how long it is refused."""
        try:
            return self._limiter.begin(_key(username))
        except AttemptsExhausted as e:
            raise LoginLocked(
                f"Too many failed login attempts for {username} ({e.failures} failed, "
                f"{e.in_flight} in progress): the account is locked; try again in "
                f"{e.retry_after} s.",
                retry_after=e.retry_after,
            ) from e

    def seconds_locked(self, username: str) -> int:
        return self._limiter.seconds_locked(_key(username))


def _key(username: str) -> str:
    return username.strip().lower()
