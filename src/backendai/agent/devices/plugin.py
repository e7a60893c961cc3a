"""The device plugin interface: what one kind of resource (cpu, mem, cuda) offers and gives.

A plugin is created once per agent process by a factory registered as an entry point in the
group ``backendai.agent.devices`` (``create(settings, capacity) -> DevicePlugin | None``;
None: nothing to offer on this node, e.g. no GPU). It answers five things:

- ``available_slots()``: the slots it offers in total (the heartbeat's ``available_slots``);
- ``report()``: its devices, each with its capacity and what is free (``compute_plugins``),
  or None for intrinsic resources without devices (cpu, mem);
- ``allocate(kernel_id, slots)``: take what a new kernel asks of it, before its container is
  created; raises ``DeviceAllocationFailed`` when it does not fit (a device is never shared
  beyond its capacity, a fraction never split). Idempotent per kernel id;
- ``container_config(allocation)``: what the container gets for it (environment now; Docker
  device requests for a real GPU plugin);
- ``restore(kernel_id, allocation)`` / ``release(kernel_id)``: take back an allocation read
  from a container's labels after an agent restart, and free one when its kernel ends.

Allocations are ``{device id: shares}`` mappings, empty for plugins without devices; they are
stored in the container's labels so that a restarted agent knows them without other state.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from backendai.agent.errors import KernelCreationFailed
from backendai.agent.resources import Capacity
from backendai.agent.settings import AgentSettings
from backendai.common.devices import Allocation, DeviceReport


class DeviceAllocationFailed(KernelCreationFailed):
    """A kernel asked for more of a device than this agent has free (the manager's view was
    stale, or another manager placed something here meanwhile)."""

    code = "device-allocation-failed"
    title = "The devices the kernel asks for are not free on this agent."


@dataclass
class ContainerDevices:
    """What a container gets for its allocation."""

    env: dict[str, str] = field(default_factory=dict)
    # For a real GPU plugin: Docker device requests ({"Driver": "nvidia", "DeviceIDs": [...],
    # "Capabilities": [["gpu"]]}); the container backend would pass them to the engine.
    device_requests: list[dict[str, object]] = field(default_factory=list)


class DevicePlugin(Protocol):
    key: str  # the short name: "cpu", "mem", "cuda"
    slot_names: tuple[str, ...]  # the slots it answers for

    def available_slots(self) -> dict[str, Decimal]: ...

    def report(self) -> DeviceReport | None: ...

    def allocate(self, kernel_id: uuid.UUID, slots: Mapping[str, Decimal]) -> Allocation: ...

    def restore(self, kernel_id: uuid.UUID, allocation: Mapping[str, Decimal]) -> None: ...

    def release(self, kernel_id: uuid.UUID) -> None: ...

    def container_config(self, allocation: Mapping[str, Decimal]) -> ContainerDevices: ...


class PluginFactory(Protocol):
    def __call__(self, settings: AgentSettings, capacity: Capacity) -> DevicePlugin | None: ...
