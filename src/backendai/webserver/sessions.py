"""Login sessions and the lock-out of accounts after repeated failed logins.

Both live in the webserver's memory: a restart logs everyone out, which is the safe side.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]


@dataclass
class LoginSession:
    access_key: str
    secret_key: str
    email: str
    role: str
    last_seen: float


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


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0


@dataclass
class LoginThrottle:
    """Locks a user name for ``lock_seconds`` after ``max_failures`` failed logins in a row."""

    max_failures: int
    lock_seconds: float
    clock: Clock = time.monotonic
    _failures: dict[str, _Failures] = field(default_factory=dict)

    def seconds_locked(self, username: str) -> int:
        """How many more seconds ``username`` is locked; 0 when it may try."""
        entry = self._failures.get(username.lower())
        if entry is None:
            return 0
        remaining = entry.locked_until - self.clock()
        return max(0, int(remaining + 0.999))

    def record_failure(self, username: str) -> None:
        entry = self._failures.setdefault(username.lower(), _Failures())
        if entry.locked_until and entry.locked_until <= self.clock():
            entry.count = 0  # the previous lock expired: start counting afresh
            entry.locked_until = 0.0
        entry.count += 1
        if entry.count >= self.max_failures:
            entry.locked_until = self.clock() + self.lock_seconds

    def record_success(self, username: str) -> None:
        self._failures.pop(username.lower(), None)
