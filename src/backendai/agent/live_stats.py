"""Live counters of running kernels for the heartbeat: what the web UI shows as "used".

Each heartbeat samples every running container (from its cgroup files where this host's are
visible; Docker is asked for its process id once, then again only after a restart), and adds
``cpu_util``: the CPU time spent since the previous sample over the time between them, in
percent of one core, as Backend.AI's ``live_stat`` has it. Sampling is bounded (a few at a
time, a short timeout each) so that a slow Docker Engine delays the heartbeat by little, and a
kernel that could not be read is just left without a sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation

from backendai.agent.backends.protocol import ContainerBackend, Stats
from backendai.common.errors import PlatformError

CONCURRENCY = 8
SAMPLE_TIMEOUT_S = 2.0


class LiveStats:
    def __init__(
        self, backend: ContainerBackend, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._backend, self._clock = backend, clock
        # kernel id -> (CPU msec, monotonic seconds) of its previous sample
        self._previous: dict[uuid.UUID, tuple[Decimal, float]] = {}
        self._gate = asyncio.Semaphore(CONCURRENCY)

    async def sample(self, running: Sequence[tuple[uuid.UUID, str]]) -> dict[uuid.UUID, Stats]:
        """``running``: (kernel id, container id) pairs; the stats of those that answered."""
        results = await asyncio.gather(*(self._one(kid, cid) for kid, cid in running))
        # Kernels no longer running are forgotten: the map never outgrows the containers.
        alive = {kid for kid, _ in running}
        for kid in [k for k in self._previous if k not in alive]:
            del self._previous[kid]
        return {kid: stat for (kid, _), stat in zip(running, results, strict=True) if stat}

    async def _one(self, kernel_id: uuid.UUID, container_id: str) -> Stats | None:
        async with self._gate:
            try:
                async with asyncio.timeout(SAMPLE_TIMEOUT_S):
                    stat = await self._backend.stats(container_id)
            except (PlatformError, TimeoutError):
                return None
        now = self._clock()
        used = _number(stat.get("cpu_used", {}).get("current"))
        if used is None:
            return stat
        previous = self._previous.get(kernel_id)
        self._previous[kernel_id] = (used, now)
        if previous is not None and now > previous[1]:
            percent = (used - previous[0]) / Decimal(str((now - previous[1]) * 1000)) * 100
            stat = {
                **stat,
                "cpu_util": {
                    "current": str(max(percent, Decimal(0)).quantize(Decimal("0.1"))),
                    "capacity": None,
                    "unit_hint": "percent",
                },
            }
        return stat


def _number(value: str | None) -> Decimal | None:
    if value is None:
        return None
    with contextlib.suppress(InvalidOperation):
        return Decimal(value)
    return None
