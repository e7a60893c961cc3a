"""A ``cuda`` plugin with fake devices, so that GPU scheduling and display are testable on
machines without GPUs (``[agent] mock_cuda_devices = N``, ``mock_cuda_memory`` per device).

It offers ``cuda.device`` (whole devices) and ``cuda.shares`` (fractions, 1 share = 1
device) and allocates them exactly as a real plugin would; the container gets no device, only
environment variables that say what it was given:

- ``MOCK_CUDA_VISIBLE_DEVICES``: the device ids, comma separated (as CUDA_VISIBLE_DEVICES);
- ``MOCK_CUDA_SHARES``: ``id:shares`` per device (``0:0.4``);
- ``MOCK_CUDA_MEMORY``: ``id:bytes`` per device, its share of the device's memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal

from backendai.agent.devices.plugin import ContainerDevices, DevicePlugin
from backendai.agent.devices.shares import DeviceShares, DeviceSpec
from backendai.agent.resources import Capacity
from backendai.agent.settings import AgentSettings
from backendai.common.devices import Allocation, DeviceReport, device_order
from backendai.common.slots import format_amount

DEVICE_SLOT = "cuda.device"
SHARE_SLOT = "cuda.shares"
ENV_DEVICES = "MOCK_CUDA_VISIBLE_DEVICES"
ENV_SHARES = "MOCK_CUDA_SHARES"
ENV_MEMORY = "MOCK_CUDA_MEMORY"


class MockCudaPlugin:
    key = "cuda"
    slot_names: tuple[str, ...] = (DEVICE_SLOT, SHARE_SLOT)

    def __init__(self, count: int, memory: int) -> None:
        specs = [DeviceSpec(str(i), memory, "Mock CUDA device") for i in range(count)]
        self.shares = DeviceShares(specs, DEVICE_SLOT, SHARE_SLOT)

    def available_slots(self) -> dict[str, Decimal]:
        return self.shares.totals()

    def report(self) -> DeviceReport | None:
        return self.shares.report()

    def allocate(self, kernel_id: uuid.UUID, slots: Mapping[str, Decimal]) -> Allocation:
        return self.shares.allocate(kernel_id, slots)

    def restore(self, kernel_id: uuid.UUID, allocation: Mapping[str, Decimal]) -> None:
        self.shares.restore(kernel_id, allocation)

    def release(self, kernel_id: uuid.UUID) -> None:
        self.shares.release(kernel_id)

    def container_config(self, allocation: Mapping[str, Decimal]) -> ContainerDevices:
        if not allocation:
            return ContainerDevices()
        ids = sorted(allocation, key=device_order)
        memory = {
            i: int(self.shares.specs[i].memory * allocation[i] / self.shares.specs[i].capacity)
            for i in ids
            if i in self.shares.specs
        }
        return ContainerDevices(
            env={
                ENV_DEVICES: ",".join(ids),
                ENV_SHARES: ",".join(f"{i}:{_amount(allocation[i])}" for i in ids),
                ENV_MEMORY: ",".join(f"{i}:{m}" for i, m in memory.items()),
            }
        )


def _amount(shares: Decimal) -> str:
    return format_amount(SHARE_SLOT, shares)


def create(settings: AgentSettings, capacity: Capacity) -> DevicePlugin | None:
    if settings.mock_cuda_devices <= 0:
        return None
    return MockCudaPlugin(settings.mock_cuda_devices, settings.mock_cuda_memory)
