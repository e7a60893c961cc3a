"""Password hashing with bcrypt, off the event loop and with a bound on how much may wait.

One bcrypt check costs a quarter of a second of CPU on purpose. Run on the event loop, 40
concurrent logins stalled every other request for seconds; run in the loop's shared default
executor, they would starve file and database work queued there. So checks get their own
small thread pool (bcrypt releases the GIL), and a flood beyond what that pool can work off
soon is refused with 429 instead of queueing without end.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import bcrypt

from backendai.common.errors import TooManyRequests

T = TypeVar("T")

# The bcrypt cost of every hash we make (2^12 rounds, about 0.25 s).
ROUNDS = 12

# A hash of a random secret nobody kept, at ROUNDS. A login for an unknown email is checked
# against it so that it takes as long as a wrong password for a real user: the time of the
# answer must not tell which emails exist. It never matches what a caller sends.
DUMMY_HASH = "$2b$12$eiyarZRigsnkdOk8w6bhS.f53P8l.M04EiAclAiEzkJz9wiJLq6te"


def hash_password(password: str) -> str:
    """Blocking; for start-up (bootstrap) and tools. Request handlers use ``PasswordPool``."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(ROUNDS)).decode()


def check_password(password: str, hashed: str) -> bool:
    """Blocking; request handlers use ``PasswordPool.check``."""
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:  # a malformed stored hash, or a password bcrypt cannot take
        return False


def _check_or_dummy(password: str, hashed: str | None) -> bool:
    if hashed is None:
        check_password(password, DUMMY_HASH)
        return False
    return check_password(password, hashed)


class PasswordPool:
    """``workers`` threads hash and check; up to ``queue`` more jobs wait for one; beyond
    that a job is refused at once with ``TooManyRequests``."""

    def __init__(self, workers: int, queue: int) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("a password pool needs at least one worker and a queue >= 0")
        self.workers = workers
        self.capacity = workers + queue
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="passwords")
        # Jobs leave from a worker thread (the job's done-callback), so the count is locked.
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Jobs running or waiting for a worker now."""
        with self._lock:
            return self._admitted

    async def check(self, password: str, hashed: str | None) -> bool:
        """Whether ``password`` matches ``hashed``; None (no such user) costs the same and
        is never a match."""
        return await self._run(partial(_check_or_dummy, password, hashed))

    async def hash(self, password: str) -> str:
        return await self._run(partial(hash_password, password))

    async def _run(self, work: Callable[[], T]) -> T:
        with self._lock:
            if self._admitted >= self.capacity:
                # A job takes about a quarter of a second: that is when the queue has drained.
                drained = math.ceil(self.capacity / (4 * self.workers))
                raise TooManyRequests(
                    f"The server is busy checking {self._admitted} other logins; "
                    f"try again in {drained} s.",
                    retry_after=drained,
                )
            self._admitted += 1
        try:
            job = self._executor.submit(work)
        except RuntimeError:  # the pool was closed: the process is stopping
            self._leave()
            raise
        # The slot is given back when the job really ends, not when its waiter stops waiting:
        # a caller that disconnects must not let more work pile up than the bound.
        job.add_done_callback(lambda _: self._leave())
        return await asyncio.wrap_future(job)

    def _leave(self) -> None:
        with self._lock:
            self._admitted -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
