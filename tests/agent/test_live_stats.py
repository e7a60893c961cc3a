"""Live counters in the heartbeat (agent.live_stats): every running container sampled, its CPU
use as percent of one core between two samples, and failures or slow containers skipped."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from backendai.agent import live_stats
from backendai.agent.backends.protocol import Stats
from backendai.agent.errors import ContainerNotFound
from backendai.agent.live_stats import LiveStats


class Counters:
    """Stands for the backend's ``stats``: CPU msec per container, set by the test."""

    def __init__(self) -> None:
        self.cpu: dict[str, int] = {}
        self.slow: set[str] = set()

    async def stats(self, container_id: str) -> Stats:
        if container_id in self.slow:
            await asyncio.sleep(60)
        if container_id not in self.cpu:
            raise ContainerNotFound(f"no container {container_id}")
        return {
            "cpu_used": {"current": str(self.cpu[container_id]), "capacity": None,
                         "unit_hint": "msec"},
            "mem": {"current": "1048576", "capacity": None, "unit_hint": "bytes"},
        }  # fmt: skip


def sampler(counters: Counters, clock: Callable[[], float] | None = None) -> LiveStats:
    backend: Any = counters
    return LiveStats(backend, clock) if clock else LiveStats(backend)


async def test_cpu_util_is_the_cpu_time_between_two_samples() -> None:
    counters, kid = Counters(), uuid.uuid4()
    clock = iter([100.0, 102.0])
    stats = sampler(counters, lambda: next(clock))
    counters.cpu["c1"] = 1000
    first = await stats.sample([(kid, "c1")])
    assert "cpu_util" not in first[kid]  # one sample says nothing about a rate
    assert first[kid]["mem"]["current"] == "1048576"
    counters.cpu["c1"] = 2500  # 1.5 s of CPU in 2 s: 75 % of a core
    second = await stats.sample([(kid, "c1")])
    assert Decimal(str(second[kid]["cpu_util"]["current"])) == Decimal("75.0")
    assert second[kid]["cpu_util"]["unit_hint"] == "percent"


async def test_unreadable_and_slow_containers_are_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live_stats, "SAMPLE_TIMEOUT_S", 0.05)
    counters = Counters()
    ok, gone, slow = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    counters.cpu["ok"] = counters.cpu["slow"] = 1
    counters.slow.add("slow")
    result = await sampler(counters).sample([(ok, "ok"), (gone, "gone"), (slow, "slow")])
    assert set(result) == {ok}


async def test_kernels_that_stopped_running_are_forgotten() -> None:
    counters = Counters()
    stats = sampler(counters)
    kids = [uuid.uuid4() for _ in range(3)]
    for i in range(len(kids)):
        counters.cpu[f"c{i}"] = 1
    await stats.sample([(kid, f"c{i}") for i, kid in enumerate(kids)])
    await stats.sample([(kids[0], "c0")])
    assert set(stats._previous) == {kids[0]}
