"""What this node offers (cores, memory) and which cores each kernel's cpuset gets."""

from __future__ import annotations

import logging
import math
import os
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

log = logging.getLogger(__name__)


def parse_cpuset(text: str) -> list[int]:
    """``0-2,5`` -> ``[0, 1, 2, 5]`` (the kernel's cpuset list format)."""
    cores: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        cores.update(range(int(first), int(last or first) + 1))
    return sorted(cores)


def format_cpuset(cores: list[int]) -> str:
    return ",".join(str(c) for c in sorted(cores))


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().split()[0]
    except (OSError, IndexError):
        return None
    return int(text) if text.isdigit() else None


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """Cores allowed by our own cgroup's CPU quota (v1 or v2), if any."""
    quota, period = (
        _read_int(root / "cpu/cpu.cfs_quota_us"),
        _read_int(root / "cpu/cpu.cfs_period_us"),
    )
    if quota is None:
        try:
            text = (root / "cpu.max").read_text().split()
            quota, period = (int(text[0]), int(text[1])) if text[0].isdigit() else (None, None)
        except (OSError, IndexError, ValueError):
            return None
    return quota / period if quota and period and quota > 0 else None


def host_memory(root: Path = Path("/sys/fs/cgroup")) -> int:
    """Physical memory, or less if our cgroup is limited."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in (root / "memory/memory.limit_in_bytes", root / "memory.max"):
        limit = _read_int(path)
        if limit is not None and 0 < limit < total:
            total = limit
    return total


@dataclass(frozen=True)
class Capacity:
    cpu: int
    mem: int
    cores: list[int]  # the cores cpusets are drawn from

    def slots(self) -> dict[str, str]:
        return {"cpu": str(self.cpu), "mem": str(self.mem)}


def detect_capacity(
    *, reserved_cpu: int, reserved_mem: int, cpu: int | None, mem: int | None
) -> Capacity:
    cores = sorted(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = cores[: max(1, math.floor(limit))]
    # Reserved cores are the first ones (where the host's own work usually lands).
    usable = cores[reserved_cpu:] or cores[-1:]
    if len(usable) < len(cores) - reserved_cpu:
        log.warning("reserved_cpu=%d leaves no core; using core %s", reserved_cpu, usable)
    return Capacity(
        cpu=cpu or len(usable),
        mem=mem or max(0, host_memory() - reserved_mem),
        cores=usable,
    )


def cores_needed(cpu: Decimal) -> int:
    """A kernel with 1.5 CPU gets a cpuset of 2 cores and a quota of 1.5."""
    return max(1, math.ceil(cpu))


class CoreAllocator:
    """Gives each kernel whole cores, the least shared ones first, so that kernels share a
    core only when the node has more kernels' cores than it has cores."""

    def __init__(self, cores: list[int]) -> None:
        self.cores = list(cores)
        self.assigned: dict[uuid.UUID, list[int]] = {}

    def load(self) -> dict[int, int]:
        counts = dict.fromkeys(self.cores, 0)
        for cores in self.assigned.values():
            for core in cores:
                counts[core] = counts.get(core, 0) + 1
        return counts

    def allocate(self, kernel_id: uuid.UUID, count: int) -> list[int]:
        if kernel_id in self.assigned:
            return self.assigned[kernel_id]
        load = self.load()
        chosen = sorted(self.cores, key=lambda core: (load[core], core))[:count]
        self.assigned[kernel_id] = sorted(chosen)
        return self.assigned[kernel_id]

    def adopt(self, kernel_id: uuid.UUID, cores: list[int]) -> None:
        self.assigned[kernel_id] = sorted(cores)

    def release(self, kernel_id: uuid.UUID) -> None:
        self.assigned.pop(kernel_id, None)
