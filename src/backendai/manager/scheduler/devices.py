"""Whether a request fits an agent's devices (GPUs), not only its totals.

An agent with one device of 1 cuda.shares and 0.6 of it used has 0.4 free in total, and two
such devices 0.8, yet a request of 0.5 fits on neither: a fraction below one device is placed
on ONE device, never split, and a whole device (``cuda.device``) only on a device nobody uses.
``device_shortage`` says whether a request fits an agent's devices, and if not why, with the
numbers ("needs 0.5 cuda.shares on one device; the most free on any device of agent i-gpu1 is
0.4"). Placement follows ``common.devices``, the rule the agent allocates by.

The per-device state of each agent (``AgentDevices``) comes from what it reported
(``Agent.compute_plugins``: its devices and their capacity) less what the kernels placed on it
hold: those the agent has created hold the devices it named (``Kernel.attached_devices``);
those not yet created are placed by the same rule, in the order they were scheduled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.devices import Device, DeviceReport, place, place_whole, spread, take
from backendai.common.slots import ResourceSlot, format_amount
from backendai.manager.db.models import Agent, Kernel
from backendai.manager.lifecycle import OCCUPYING_STATUSES


@dataclass(frozen=True)
class AgentDevices:
    """One device plugin's devices on one agent, with what is free on each."""

    plugin: str  # "cuda"
    device_slot: str  # "cuda.device"
    share_slot: str  # "cuda.shares"
    devices: tuple[Device, ...]

    def wants(self, requested: Mapping[str, Decimal]) -> tuple[Decimal, Decimal]:
        """How many whole devices and how many shares ``requested`` asks of this plugin."""
        return (
            Decimal(requested.get(self.device_slot, 0)),
            Decimal(requested.get(self.share_slot, 0)),
        )

    def after(self, requested: Mapping[str, Decimal]) -> AgentDevices:
        """The state once ``requested`` is placed (unchanged if it does not fit): for a policy
        that follows each agent's devices through a pass exactly."""
        allocation = place(self.devices, *self.wants(requested))
        if not allocation:
            return self
        return AgentDevices(
            self.plugin, self.device_slot, self.share_slot, tuple(take(self.devices, allocation))
        )

    def after_total(self, placed: Mapping[str, Decimal]) -> AgentDevices:
        """A state no better than the real one after requests totalling ``placed`` went here
        (the split of a total is unknown): whole devices taken, and the total of shares taken
        from every device."""
        whole, shares = self.wants(placed)
        devices = list(self.devices)
        if whole > 0:
            taken = place_whole(devices, whole)
            devices = (
                take(devices, taken)
                if taken is not None
                else [Device(d.id, d.capacity, Decimal(0)) for d in devices]
            )
        if shares > 0:
            devices = [Device(d.id, d.capacity, max(Decimal(0), d.free - shares)) for d in devices]
        return AgentDevices(self.plugin, self.device_slot, self.share_slot, tuple(devices))

    def shortage(self, requested: Mapping[str, Decimal], agent_id: str) -> str | None:
        whole, shares = self.wants(requested)
        if (whole <= 0 and shares <= 0) or place(self.devices, whole, shares) is not None:
            return None
        if whole != whole.to_integral_value():
            return f"{self.device_slot} must be a whole number of devices, not {whole}"
        untouched = sum(1 for d in self.devices if d.untouched)
        most = max((d.free for d in self.devices), default=Decimal(0))
        largest = max((d.capacity for d in self.devices), default=Decimal(0))
        parts = []
        if whole > 0:
            parts.append(f"{format_amount(self.device_slot, whole)} whole {self.device_slot}")
        if shares > 0:
            where = " on one device" if shares <= largest else ""
            parts.append(f"{format_amount(self.share_slot, shares)} {self.share_slot}{where}")
        if whole > untouched or shares > largest:
            free = f"agent {agent_id} has {untouched} of {len(self.devices)} device(s) unused"
        else:
            most_text = format_amount(self.share_slot, most)
            free = f"the most free on any device of agent {agent_id} is {most_text}"
        return f"needs {' and '.join(parts)}; {free}"


def device_shortage(
    requested: ResourceSlot,
    agent_id: str,
    devices: Sequence[AgentDevices],
    placed: Mapping[str, Decimal] | None = None,
) -> str | None:
    """Why ``requested`` does not fit the devices of agent ``agent_id`` (None: it fits).
    ``placed``: the total already placed on this agent earlier in the same pass (its split is
    unknown, so it is counted against every device: a request may wait one pass more, but a
    device is never given twice)."""
    for plugin in devices:
        state = plugin.after_total(placed) if placed else plugin
        why = state.shortage(requested, agent_id)
        if why is not None:
            return why
    return None


def agent_devices(
    compute_plugins: Mapping[str, Any], kernels: Iterable[tuple[dict[str, str], dict[str, Any]]]
) -> tuple[AgentDevices, ...]:
    """An agent's devices from its report, less what ``kernels`` (their occupied slots and
    attached devices, in the order they were placed) hold."""
    out = []
    for key, doc in compute_plugins.items():
        try:
            report = DeviceReport.model_validate(doc)
        except ValidationError:
            continue
        devices = [Device(d.id, Decimal(d.capacity), Decimal(d.capacity)) for d in report.devices]
        state = AgentDevices(key, report.device_slot, report.share_slot, tuple(devices))
        unknown: list[ResourceSlot] = []
        for slots, attached in kernels:
            whole, shares = state.wants(ResourceSlot.from_json(slots))
            if whole <= 0 and shares <= 0:
                continue
            ids = attached.get(key) if isinstance(attached, dict) else None
            if ids:
                held = spread(state.devices, [str(i) for i in ids], whole, shares)
                state = AgentDevices(
                    key, state.device_slot, state.share_slot, tuple(take(state.devices, held))
                )
            else:  # placed, not yet created: where the agent will put it
                unknown.append(ResourceSlot.from_json(slots))
        for requested in unknown:
            state = state.after(requested)
        out.append(state)
    return tuple(out)


async def load_agent_devices(
    db: AsyncSession, agents: Sequence[Agent]
) -> dict[str, tuple[AgentDevices, ...]]:
    """The per-device state of every agent in ``agents`` that has devices."""
    reports = {a.id: a.compute_plugins for a in agents if a.compute_plugins}
    if not reports:
        return {}
    rows = await db.execute(
        sa.select(Kernel.agent, Kernel.occupied_slots, Kernel.attached_devices)
        .where(Kernel.agent.in_(list(reports)), Kernel.status.in_(OCCUPYING_STATUSES))
        .order_by(Kernel.created_at, Kernel.id)
    )
    kernels: dict[str, list[tuple[dict[str, str], dict[str, Any]]]] = {a: [] for a in reports}
    for agent_id, slots, attached in rows:
        if agent_id is not None:
            kernels[agent_id].append((slots or {}, attached or {}))
    return {a: agent_devices(reports[a], kernels[a]) for a in reports}


class DeviceLedger:
    """Each agent's devices followed through a commit, one assignment after another (the
    applier's re-check under lock: a device is never given beyond its capacity)."""

    def __init__(self, states: Mapping[str, tuple[AgentDevices, ...]]) -> None:
        self.states = dict(states)

    def take(self, agent_id: str, requested: ResourceSlot) -> bool:
        """Whether ``requested`` fits the agent's devices; if so it is recorded as placed."""
        state = self.states.get(agent_id)
        if not state:
            return True
        if device_shortage(requested, agent_id, state) is not None:
            return False
        self.states[agent_id] = tuple(d.after(requested) for d in state)
        return True
