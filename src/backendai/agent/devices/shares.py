"""Who holds what of each device: the bookkeeping a GPU plugin (mock or real) shares.

``DeviceShares`` knows the devices (id, capacity in shares, memory) and each kernel's
allocation; it places new requests by ``common.devices``' rule, so the agent gives exactly what
the manager's scheduler expects to fit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from backendai.agent.devices.plugin import DeviceAllocationFailed
from backendai.common.devices import Allocation, Device, DeviceInfo, DeviceReport, place
from backendai.common.slots import format_amount


@dataclass(frozen=True)
class DeviceSpec:
    id: str
    memory: int  # bytes
    model: str = ""
    capacity: Decimal = Decimal(1)  # shares one whole device is worth


class DeviceShares:
    def __init__(self, devices: Sequence[DeviceSpec], device_slot: str, share_slot: str) -> None:
        self.specs = {d.id: d for d in devices}
        self.device_slot, self.share_slot = device_slot, share_slot
        self.held: dict[uuid.UUID, Allocation] = {}

    def state(self) -> list[Device]:
        used: dict[str, Decimal] = {}
        for allocation in self.held.values():
            for device_id, amount in allocation.items():
                used[device_id] = used.get(device_id, Decimal(0)) + amount
        return [
            Device(d.id, d.capacity, d.capacity - used.get(d.id, Decimal(0)))
            for d in self.specs.values()
        ]

    def allocate(self, kernel_id: uuid.UUID, slots: Mapping[str, Decimal]) -> Allocation:
        if kernel_id in self.held:  # a retried create
            return self.held[kernel_id]
        whole = Decimal(slots.get(self.device_slot, 0))
        shares = Decimal(slots.get(self.share_slot, 0))
        if whole <= 0 and shares <= 0:
            return {}
        state = self.state()
        allocation = place(state, whole, shares)
        if allocation is None:
            most = max((d.free for d in state), default=Decimal(0))
            untouched = sum(1 for d in state if d.untouched)
            raise DeviceAllocationFailed(
                f"The kernel asks for {format_amount(self.device_slot, whole)} "
                f"{self.device_slot} and {format_amount(self.share_slot, shares)} "
                f"{self.share_slot}; this agent has {untouched} device(s) entirely free and "
                f"at most {format_amount(self.share_slot, most)} free on any one device."
            )
        self.held[kernel_id] = allocation
        return allocation

    def restore(self, kernel_id: uuid.UUID, allocation: Mapping[str, Decimal]) -> None:
        known = {k: Decimal(v) for k, v in allocation.items() if k in self.specs}
        if known:
            self.held[kernel_id] = known

    def release(self, kernel_id: uuid.UUID) -> None:
        self.held.pop(kernel_id, None)

    def totals(self) -> dict[str, Decimal]:
        return {
            self.device_slot: Decimal(len(self.specs)),
            self.share_slot: sum((d.capacity for d in self.specs.values()), Decimal(0)),
        }

    def report(self) -> DeviceReport:
        return DeviceReport(
            device_slot=self.device_slot,
            share_slot=self.share_slot,
            devices=[
                DeviceInfo(
                    id=d.id,
                    capacity=format_amount(self.share_slot, d.capacity),
                    free=format_amount(self.share_slot, d.free),
                    memory=self.specs[d.id].memory,
                    model=self.specs[d.id].model,
                )
                for d in self.state()
            ],
        )
