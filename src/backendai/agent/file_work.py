"""Kernels' file work off the event loop: the agent's own pool, a cap per kernel, a time bound.

Reading and writing a session's files on the host can block: a slow disk, a huge directory, or
(before the files were opened without blocking) a FIFO a user left in their home. asyncio's
default executor is shared by every part of the process and is small (cores + 4 workers), so a
handful of blocked operations of one user stalled everyone's. Here each operation:

* runs in this pool's own daemon threads (a thread stuck in a system call never holds up the
  process's exit);
* holds one of its kernel's ``per_kernel`` slots from the moment it is queued until its thread
  has really returned, even when its caller has given up, so one kernel's stuck or slow work
  occupies at most ``per_kernel`` of the ``workers`` threads;
* gets a ``Deadline`` that covers waiting for a slot and running; the work checks it between
  steps (every directory entry, every chunk) and stops on its own, and the caller stops waiting
  at it in any case, with ``FileOperationTimeout``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from backendai.agent.errors import FileOperationTimeout

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
_Job = tuple[Callable[[], Any], "concurrent.futures.Future[Any]"]


class Deadline:
    """When one file operation must be over; ``check`` raises once it has passed."""

    __slots__ = ("at", "timeout", "what")

    def __init__(self, timeout: float, what: str) -> None:
        self.timeout, self.what = timeout, what
        self.at = time.monotonic() + timeout

    def left(self) -> float:
        return self.at - time.monotonic()

    def check(self) -> None:
        if time.monotonic() > self.at:
            raise self.expired()

    def expired(self) -> FileOperationTimeout:
        return FileOperationTimeout(
            f"{self.what} took longer than {self.timeout:g} s and was stopped. Try fewer or "
            "smaller files (or a smaller directory), or move big data through a vfolder."
        )


class _Pool:
    """A fixed set of daemon threads, started on first use, taking jobs in order."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        if self._closed:
            raise RuntimeError("the file work pool is closed")
        if not self._threads:
            for n in range(self._workers):
                thread = threading.Thread(target=self._work, name=f"file-work-{n}", daemon=True)
                thread.start()
                self._threads.append(thread)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, future = job
            if not future.set_running_or_notify_cancel():
                continue  # its caller gave up before it started
            try:
                result = fn()
            except BaseException as e:  # handed to the awaiting caller
                future.set_exception(e)
            else:
                future.set_result(result)

    def close(self) -> None:
        """Stop taking jobs; idle threads end, a stuck one is left (it is a daemon)."""
        self._closed = True
        for _ in self._threads:
            self._jobs.put(None)


class _KernelSlots:
    """At most ``limit`` operations per kernel at once; the rest wait in order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_use: dict[uuid.UUID, int] = {}
        self._waiters: dict[uuid.UUID, deque[asyncio.Future[None]]] = {}

    def in_use(self, kernel_id: uuid.UUID) -> int:
        return self._in_use.get(kernel_id, 0)

    async def acquire(self, kernel_id: uuid.UUID, deadline: Deadline) -> None:
        waiters = self._waiters.get(kernel_id)
        if self.in_use(kernel_id) < self.limit and not waiters:
            self._in_use[kernel_id] = self.in_use(kernel_id) + 1
            return
        handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(kernel_id, deque()).append(handed)
        try:
            await asyncio.wait_for(asyncio.shield(handed), max(deadline.left(), 0))
        except BaseException as e:
            if handed.done():  # the slot came as we gave up: pass it on
                self.release(kernel_id)
            else:
                handed.cancel()
                self._forget(kernel_id, handed)
            if isinstance(e, TimeoutError):
                raise FileOperationTimeout(
                    f"{deadline.what} waited {deadline.timeout:g} s for this session's earlier "
                    f"file operations ({self.limit} run at a time) and was stopped; try again "
                    "when they have finished."
                ) from None
            raise

    def _forget(self, kernel_id: uuid.UUID, handed: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(kernel_id)
        if waiters is not None:
            with contextlib.suppress(ValueError):
                waiters.remove(handed)
            if not waiters:
                del self._waiters[kernel_id]

    def release(self, kernel_id: uuid.UUID) -> None:
        waiters = self._waiters.get(kernel_id)
        while waiters:
            handed = waiters.popleft()
            if not handed.done():
                handed.set_result(None)  # the slot goes straight to the next in line
                return
        self._waiters.pop(kernel_id, None)
        left = self.in_use(kernel_id) - 1
        if left > 0:
            self._in_use[kernel_id] = left
        else:
            self._in_use.pop(kernel_id, None)


class FileWork:
    def __init__(self, workers: int, per_kernel: int, timeout: float) -> None:
        if per_kernel >= workers:
            raise ValueError("per_kernel must be smaller than workers")
        self.timeout = timeout
        self._pool = _Pool(workers)
        self._slots = _KernelSlots(per_kernel)

    def in_use(self, kernel_id: uuid.UUID) -> int:
        """Slots the kernel holds now (threads still running count, even when given up on)."""
        return self._slots.in_use(kernel_id)

    async def run(self, kernel_id: uuid.UUID, what: str, fn: Callable[[Deadline], T]) -> T:
        """``fn(deadline)`` in the pool; ``what`` names the operation in a timeout's message.

        ``fn`` must hold nothing open when it returns: a result that comes after its caller
        gave up is dropped. Work on something that stays open goes through ``Held``.
        """
        deadline, future = await self._start(kernel_id, what, fn)
        return await self._wait(future, deadline)

    async def _start(
        self, kernel_id: uuid.UUID, what: str, fn: Callable[[Deadline], T]
    ) -> tuple[Deadline, concurrent.futures.Future[T]]:
        deadline = Deadline(self.timeout, what)
        await self._slots.acquire(kernel_id, deadline)
        loop = asyncio.get_running_loop()
        try:
            future = self._pool.submit(lambda: fn(deadline))
        except BaseException:
            self._slots.release(kernel_id)
            raise
        future.add_done_callback(lambda _: self._release_soon(loop, kernel_id))
        return deadline, future

    @staticmethod
    async def _wait(future: concurrent.futures.Future[T], deadline: Deadline) -> T:
        try:
            # Cancelling the wrapper cancels a job still queued; a running one goes on and
            # keeps its slot until it returns.
            return await asyncio.wait_for(asyncio.wrap_future(future), max(deadline.left(), 0))
        except TimeoutError:
            raise deadline.expired() from None

    def _release_soon(self, loop: asyncio.AbstractEventLoop, kernel_id: uuid.UUID) -> None:
        try:
            loop.call_soon_threadsafe(self._slots.release, kernel_id)
        except RuntimeError:  # the loop is gone: so is everything that waited on it
            log.debug("file work of kernel %s ended after its event loop", kernel_id)

    def close(self) -> None:
        self._pool.close()


class Held(Generic[R]):
    """Something open (a file, a download's directories) that a series of pool operations
    works on, one at a time. ``release`` frees it once the last operation has really returned,
    never under a thread still using it (that thread might then write into a descriptor
    number that was closed and handed out again)."""

    def __init__(
        self, work: FileWork, kernel_id: uuid.UUID, resource: R, release: Callable[[R], None]
    ) -> None:
        self.resource = resource
        self._work, self._kernel_id, self._release = work, kernel_id, release
        self._last: concurrent.futures.Future[Any] | None = None
        self._released = False

    async def run(self, what: str, fn: Callable[[R, Deadline], T]) -> T:
        if self._released:
            raise RuntimeError("the resource was released")
        resource = self.resource
        deadline, future = await self._work._start(self._kernel_id, what, lambda d: fn(resource, d))
        self._last = future
        return await self._work._wait(future, deadline)

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        last = self._last
        if last is None or last.done():
            self._release(self.resource)
        else:  # called in the worker thread as it returns (at once if it just did)
            last.add_done_callback(lambda _: self._release(self.resource))
