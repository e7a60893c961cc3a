"""Device plugins: what an agent offers (cpu, mem, cuda...) and what each kernel is given.

Plugins are found by short name in the entry point group ``backendai.agent.devices``
(``pyproject.toml``): ``cpu`` and ``mem`` are intrinsic, ``cuda`` is the mock plugin (fake
devices, off unless ``mock_cuda_devices`` is set). ``DeviceSet`` is the agent's view of all of
them: the slots to report, the allocation of a new kernel across plugins, the container's
share of it, and the allocations taken back from container labels after a restart.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from importlib.metadata import entry_points

from backendai.agent.backends.protocol import ContainerSpec
from backendai.agent.devices.plugin import (
    ContainerDevices,
    DeviceAllocationFailed,
    DevicePlugin,
    PluginFactory,
)
from backendai.agent.layout import LABEL_DEVICES
from backendai.agent.resources import Capacity
from backendai.agent.settings import AgentSettings
from backendai.common.devices import DeviceReport
from backendai.common.errors import ConfigurationError
from backendai.common.slots import ResourceSlot

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "backendai.agent.devices"
# What the group holds in this package (pyproject.toml); used when the installed metadata
# predates the group (an editable install not reinstalled since), so an agent still starts.
BUILTIN = {
    "cpu": "backendai.agent.devices.intrinsic:create_cpu",
    "mem": "backendai.agent.devices.intrinsic:create_mem",
    "cuda": "backendai.agent.devices.mock_cuda:create",
}

KernelDevices = dict[str, dict[str, Decimal]]  # plugin key -> {device id: shares}


def plugin_factories() -> dict[str, PluginFactory]:
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    factories: dict[str, PluginFactory] = {}
    for name in sorted(found.keys() | BUILTIN.keys(), key=lambda n: (n not in BUILTIN, n)):
        if name in found:
            factories[name] = found[name].load()
        else:
            log.info("device plugin %s is not registered as an entry point; using %s",
                     name, BUILTIN[name])  # fmt: skip
            module, _, attr = BUILTIN[name].partition(":")
            factories[name] = getattr(__import__(module, fromlist=[attr]), attr)
    return factories


@dataclass
class DeviceSet:
    plugins: list[DevicePlugin]
    held: dict[uuid.UUID, KernelDevices] = field(default_factory=dict)

    def available_slots(self) -> dict[str, str]:
        slots: dict[str, Decimal] = {}
        for plugin in self.plugins:
            slots |= plugin.available_slots()
        return ResourceSlot(slots).to_json()

    def reports(self) -> dict[str, DeviceReport]:
        """Each device plugin's devices and what is free on each (``compute_plugins``)."""
        out = {}
        for plugin in self.plugins:
            report = plugin.report()
            if report is not None:
                out[plugin.key] = report
        return out

    def allocate(self, kernel_id: uuid.UUID, slots: Mapping[str, str]) -> KernelDevices:
        """Every plugin's share of a new kernel (all or nothing)."""
        amounts = {k: Decimal(v) for k, v in slots.items()}
        done: list[DevicePlugin] = []
        held: KernelDevices = {}
        try:
            for plugin in self.plugins:
                asked = {n: amounts[n] for n in plugin.slot_names if n in amounts}
                allocation = plugin.allocate(kernel_id, asked)
                done.append(plugin)
                if allocation:
                    held[plugin.key] = allocation
        except BaseException:
            for plugin in done:
                plugin.release(kernel_id)
            raise
        if held:
            self.held[kernel_id] = held
        return held

    def restore(self, kernel_id: uuid.UUID, held: KernelDevices) -> None:
        for plugin in self.plugins:
            if plugin.key in held:
                plugin.restore(kernel_id, held[plugin.key])
        if held:
            self.held[kernel_id] = held

    def release(self, kernel_id: uuid.UUID) -> None:
        for plugin in self.plugins:
            plugin.release(kernel_id)
        self.held.pop(kernel_id, None)

    def container_config(self, held: KernelDevices) -> ContainerDevices:
        out = ContainerDevices()
        for plugin in self.plugins:
            if plugin.key in held:
                config = plugin.container_config(held[plugin.key])
                out.env |= config.env
                out.device_requests += config.device_requests
        return out


def attached_devices(held: KernelDevices) -> dict[str, list[str]]:
    """``{"cuda": ["0"]}``: the device ids, in the order ``common.devices.spread`` reads."""
    return {key: list(allocation) for key, allocation in held.items()}


def to_label(held: KernelDevices) -> str:
    return json.dumps({k: {d: str(v) for d, v in a.items()} for k, a in held.items()})


def from_label(text: str | None) -> KernelDevices:
    if not text:
        return {}
    doc = json.loads(text)
    return {str(k): {str(d): Decimal(str(v)) for d, v in a.items()} for k, a in doc.items()}


def add_to_spec(spec: ContainerSpec, devices: DeviceSet, held: KernelDevices) -> None:
    """A kernel's container spec with what its devices give it, and the label that lets a
    restarted agent take the allocation back."""
    if not held:
        return
    config = devices.container_config(held)
    spec.env.update(config.env)
    spec.labels[LABEL_DEVICES] = to_label(held)
    if config.device_requests:  # a real GPU plugin; the container backend takes none yet
        raise DeviceAllocationFailed("This agent's container backend cannot attach devices.")


def load_devices(settings: AgentSettings, capacity: Capacity) -> DeviceSet:
    plugins: list[DevicePlugin] = []
    for name, factory in plugin_factories().items():
        try:
            plugin = factory(settings, capacity)
        except Exception as e:
            raise ConfigurationError(f"The device plugin {name} could not start: {e}") from e
        if plugin is not None:
            plugins.append(plugin)
            log.info("device plugin %s offers %s", name,
                     ResourceSlot(plugin.available_slots()).describe())  # fmt: skip
    return DeviceSet(plugins)
