"""Counting login attempts per key (a user name, a client address) so that no burst gets past
the limit.

An attempt counts from the moment it starts, not from the moment it has failed: checking a
password takes a while, and a lock-out that only counted finished failures let a whole burst
of concurrent guesses through before the first one was recorded. ``begin`` checks and counts in
one step with no ``await`` in between, so within one process it is atomic on the event loop.

Failures are forgotten ``lock_seconds`` after the last one; ``max_attempts`` failures within
that time lock the key until ``lock_seconds`` after the last. A success clears the key.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]

# How often idle keys are swept out, so that guessing many names cannot grow memory forever.
_SWEEP_EVERY_S = 60.0


class AttemptsExhausted(Exception):
    """The key has as many attempts in flight or failed as it may have."""

    def __init__(self, retry_after: int, in_flight: int, failures: int) -> None:
        super().__init__(f"try again in {retry_after} s")
        self.retry_after = retry_after
        self.in_flight = in_flight
        self.failures = failures


@dataclass
class _Entry:
    in_flight: int = 0
    failures: int = 0
    last_failure: float = 0.0


@dataclass
class Attempt:
    """One counted attempt; end it exactly once with ``fail``, ``succeed`` or ``release``."""

    _limiter: AttemptLimiter
    _key: str
    _ended: bool = False

    def fail(self) -> None:
        """The credentials were checked and were wrong (or the caller gave up mid-check)."""
        self._end(failed=True)

    def succeed(self) -> None:
        """The credentials were right: earlier failures of this key are forgiven."""
        self._end(succeeded=True)

    def release(self) -> None:
        """Nothing was checked (the server was busy or broken): the attempt does not count."""
        self._end()

    def _end(self, *, failed: bool = False, succeeded: bool = False) -> None:
        if self._ended:
            return
        self._ended = True
        self._limiter._finish(self._key, failed=failed, succeeded=succeeded)


@dataclass
class AttemptLimiter:
    max_attempts: int
    lock_seconds: float
    clock: Clock = time.monotonic
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _next_sweep: float = 0.0

    def begin(self, key: str) -> Attempt:
        """Count an attempt for ``key``, or raise ``AttemptsExhausted`` with the wait."""
        now = self.clock()
        self._sweep(now)
        entry = self._entries.setdefault(key, _Entry())
        self._forget_old(entry, now)
        if entry.in_flight + entry.failures >= self.max_attempts:
            if entry.failures >= self.max_attempts:
                wait = entry.last_failure + self.lock_seconds - now
            else:
                # Attempts still in flight fill the budget: if they fail, the lock runs a full
                # lock_seconds from then, so that is the honest lower bound to announce.
                wait = self.lock_seconds
            raise AttemptsExhausted(max(1, math.ceil(wait)), entry.in_flight, entry.failures)
        entry.in_flight += 1
        return Attempt(self, key)

    def seconds_locked(self, key: str) -> int:
        """How long ``key`` stays locked by its failures alone; 0 when it may try."""
        entry = self._entries.get(key)
        if entry is None:
            return 0
        now = self.clock()
        self._forget_old(entry, now)
        if entry.failures < self.max_attempts:
            return 0
        return max(0, math.ceil(entry.last_failure + self.lock_seconds - now))

    def __len__(self) -> int:
        return len(self._entries)

    def _forget_old(self, entry: _Entry, now: float) -> None:
        if entry.failures and now >= entry.last_failure + self.lock_seconds:
            entry.failures = 0

    def _finish(self, key: str, *, failed: bool, succeeded: bool) -> None:
        entry = self._entries.setdefault(key, _Entry())
        entry.in_flight = max(0, entry.in_flight - 1)
        now = self.clock()
        self._forget_old(entry, now)
        if failed:
            entry.failures += 1
            entry.last_failure = now
        elif succeeded:
            entry.failures = 0
        if entry.in_flight == 0 and entry.failures == 0:
            del self._entries[key]

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_EVERY_S
        for key, entry in list(self._entries.items()):
            self._forget_old(entry, now)
            if entry.in_flight == 0 and entry.failures == 0:
                del self._entries[key]
