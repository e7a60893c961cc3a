"""Session networks made ahead of need, so that a kernel that starts a container of its own
(no warm pool container fits it) takes a network at once instead of waiting for one.

Making a bridge network costs the engine ~80 ms (Docker 20.10 on two cores: the bridge, its
address and a dozen iptables commands), and a container cannot start before its network
exists. A spare costs that in the background instead. Nothing else can be done ahead: a
spare is never started on ("warmed"), because what a container's start on a network of its
own costs beyond one on the default bridge (~50 ms) is Docker's embedded DNS resolver, set up
in every container's own network namespace at every start, whatever the network has seen.

Spares are made only while the agent is quiet: nothing counted ``busy`` (a kernel being
created or destroyed) for ``QUIET`` seconds, so that the engine's work for a spare never
competes with a container's start on this machine's few cores. A burst of cold starts that
empties the stock makes the rest of its networks as it starts, as without spares.

The stock only hands out names and keeps its own count; ``networks.py`` makes the networks
(each one held once while it is a spare, so the sweep never takes one), binds a taken one to
its session, and removes the spares left when the agent stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

log = logging.getLogger(__name__)

QUIET = 0.5  # seconds without a kernel being created or destroyed before a spare is made
RETRY_DELAY = 30.0  # after a spare could not be made (the engine, a full network pool)


class SpareNetworks:
    def __init__(
        self, count: int, make: Callable[[], Awaitable[str]], *, quiet: float = QUIET
    ) -> None:
        self.count, self.quiet = count, quiet
        self._make = make
        self.ready: list[str] = []  # made, held once each, oldest first
        self._busy = 0
        self._last_busy = float("-inf")  # loop time the agent was last busy
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    def take(self) -> str | None:
        """A spare network, now its caller's (with the spare's hold); None if none is ready.
        Never awaits, so no two callers get the same one."""
        if not self.ready:
            return None
        self._wake.set()  # replace it, once the agent is quiet
        return self.ready.pop(0)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """While this lasts, and ``quiet`` seconds after, no spare is made."""
        self._busy += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._busy -= 1
            self._last_busy = asyncio.get_running_loop().time()
            if not self._busy:
                self._idle.set()

    @property
    def busy_until(self) -> float:
        """The loop time the agent was last busy (a spare is made ``quiet`` seconds after)."""
        return self._last_busy

    def start(self) -> None:
        if self.count > 0 and self._task is None:
            self._wake.set()
            self._task = asyncio.create_task(self._fill(), name="spare-networks")

    async def _until_quiet(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._idle.wait()
            left = self._last_busy + self.quiet - loop.time()
            if left <= 0 and not self._busy:
                return
            await asyncio.sleep(max(left, 0.0))

    async def _fill(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while len(self.ready) < self.count:
                await self._until_quiet()
                try:
                    name = await self._make()
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.warning("could not make a spare session network: %s", e)
                    loop.call_later(RETRY_DELAY, self._wake.set)
                    break
                self.ready.append(name)

    async def stop(self) -> list[str]:
        """Stop making spares (one under way is removed by its maker); the spares left, which
        the caller removes."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        left, self.ready = self.ready, []
        return left
