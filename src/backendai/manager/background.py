"""The manager's background loops: a step run every interval, or sooner when triggered.

Stopping waits for the step in progress to finish rather than cancelling it in the middle of
a database call, so that a shutdown never leaves a half-done transaction or a driver thread
answering a closed event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, step: Callable[[], Awaitable[Any]], interval: float) -> None:
        self.name = name
        self._step = step
        self._interval = interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def trigger(self) -> None:
        """Run the step soon; triggers that arrive before it runs make one run."""
        self._wake.set()

    def start(self, *, at_once: bool = False) -> None:
        if at_once:
            self._wake.set()
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            if self._stopping:
                break
            try:
                await self._step()
            except Exception:
                log.exception("the background step %s failed; it runs again later", self.name)

    async def stop(self, grace: float = 10.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            log.warning("the background step %s did not stop in time; cancelling it", self.name)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
