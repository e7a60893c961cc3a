"""The event-loop thread behind the synchronous :class:`~backendai.client.session.Session`.

Each synchronous session owns one daemon thread running its own asyncio loop; calls block
the caller until the coroutine finishes there. Because the loop is not the caller's, the
synchronous API also works where a loop is already running (Jupyter, async frameworks).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar, cast

R = TypeVar("R")
T = TypeVar("T")


class EventLoopThread:
    """Runs coroutines on a private event loop in a background thread."""

    def __init__(self, name: str = "backendai-client") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._loop.is_closed()

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run ``coro`` on the loop and return its result (or raise its exception)."""
        if not self.alive:
            coro.close()
            raise RuntimeError("This session is closed.")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("A synchronous session cannot be used from its own loop.")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            # Interrupted (Ctrl-C) or failed: make sure the work stops too.
            future.cancel()
            raise

    def iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        """Pull items of an async iterator one by one through the loop."""
        try:
            while True:
                done, item = self.run(_next(agen))
                if done:
                    return
                yield cast(T, item)
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None and self.alive:
                self.run(aclose())

    def stop(self) -> None:
        """Stop the loop and wait for the thread to end."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()


async def _next(agen: AsyncIterator[T]) -> tuple[bool, T | None]:
    try:
        return False, await agen.__anext__()
    except StopAsyncIteration:
        return True, None
