"""The intrinsic plugins: ``cpu`` (cores) and ``mem`` (bytes), on every agent.

What they offer is what ``resources.detect_capacity`` found (the host's cores and memory,
within our own cgroup's limits, less what is reserved, or the configured amounts). Cores are
pinned by the kernel registry's ``CoreAllocator`` and limits are set on the container spec as
before; these plugins hold no devices, so their allocations are empty.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal

from backendai.agent.devices.plugin import ContainerDevices, DevicePlugin
from backendai.agent.resources import Capacity
from backendai.agent.settings import AgentSettings
from backendai.common.devices import Allocation, DeviceReport


class _Intrinsic:
    key: str
    slot_names: tuple[str, ...]

    def __init__(self, amount: int) -> None:
        self.amount = Decimal(amount)

    def available_slots(self) -> dict[str, Decimal]:
        return {self.key: self.amount}

    def report(self) -> DeviceReport | None:
        return None

    def allocate(self, kernel_id: uuid.UUID, slots: Mapping[str, Decimal]) -> Allocation:
        return {}

    def restore(self, kernel_id: uuid.UUID, allocation: Mapping[str, Decimal]) -> None:
        return None

    def release(self, kernel_id: uuid.UUID) -> None:
        return None

    def container_config(self, allocation: Mapping[str, Decimal]) -> ContainerDevices:
        return ContainerDevices()


class CpuPlugin(_Intrinsic):
    key = "cpu"
    slot_names: tuple[str, ...] = ("cpu",)


class MemPlugin(_Intrinsic):
    key = "mem"
    slot_names: tuple[str, ...] = ("mem",)


def create_cpu(settings: AgentSettings, capacity: Capacity) -> DevicePlugin:
    return CpuPlugin(capacity.cpu)


def create_mem(settings: AgentSettings, capacity: Capacity) -> DevicePlugin:
    return MemPlugin(capacity.mem)
