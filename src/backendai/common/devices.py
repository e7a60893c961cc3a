"""Accelerator devices (GPUs) of an agent, and how requests are placed on them.

An agent with devices offers two slots per device kind (``cuda.device`` and ``cuda.shares``):
whole devices, and fractions of one. Placement follows one rule, applied by the agent when it
allocates and by the manager's scheduler when it decides (both import this module, so they
agree):

- ``cuda.device=n`` takes ``n`` devices that nobody uses at all (lowest ids first); a whole
  device is never shared.
- ``cuda.shares=x`` with ``x`` at most one device's capacity goes on ONE device, never split:
  the one with the least free that still fits (so that whole devices stay free), lowest id on
  ties. A larger ``x`` takes entirely free devices for its whole part and puts the remainder
  on one device, listed last.

An allocation is a mapping of device id to the amount (in shares) held on it; a whole device
holds its capacity. ``DeviceReport`` is what an agent reports of each plugin in its heartbeat
(``AgentHeartbeat.compute_plugins``): the devices, their capacity and what is free on each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from pydantic import BaseModel, Field


class DeviceInfo(BaseModel):
    """One device as an agent reports it."""

    id: str = Field(description="The device's index or id on its agent, e.g. '0'.")
    capacity: str = Field(default="1", description="Shares one whole device is worth.")
    free: str = Field(description="Shares not allocated to any kernel now.")
    memory: int = Field(default=0, ge=0, description="Bytes of device memory.")
    model: str = Field(default="", description="What the device is, for people.")


class DeviceReport(BaseModel):
    """One device plugin's state in a heartbeat (``compute_plugins[plugin]``)."""

    device_slot: str = Field(description="The whole-device slot, e.g. cuda.device.")
    share_slot: str = Field(description="The fractional slot, e.g. cuda.shares.")
    devices: list[DeviceInfo]


Allocation = dict[str, Decimal]  # device id -> shares held on it


@dataclass(frozen=True)
class Device:
    id: str
    capacity: Decimal
    free: Decimal

    @property
    def untouched(self) -> bool:
        return self.free >= self.capacity


def place_whole(devices: Sequence[Device], count: Decimal) -> Allocation | None:
    """``count`` entirely free devices, or None when there are not that many (or ``count`` is
    not a whole number)."""
    if count != count.to_integral_value():
        return None
    chosen = [d for d in devices if d.untouched][: int(count)]
    if len(chosen) < count:
        return None
    return {d.id: d.capacity for d in chosen}


def place_shares(devices: Sequence[Device], amount: Decimal) -> Allocation | None:
    """Where ``amount`` shares go under the rule above, or None if they do not fit."""
    if amount <= 0:
        return {}
    fitting = [d for d in devices if d.free >= amount]
    if fitting:
        best = min(fitting, key=lambda d: (d.free, device_order(d.id)))
        return {best.id: amount}
    largest = max((d.capacity for d in devices), default=Decimal(0))
    if amount <= largest:
        return None  # it would fit on one device, but no device has that much free
    allocation: Allocation = {}
    left = amount
    for d in devices:
        if d.untouched and left >= d.capacity:
            allocation[d.id] = d.capacity
            left -= d.capacity
    if left > 0:
        rest = [d for d in devices if d.id not in allocation and d.free >= left]
        if not rest:
            return None
        best = min(rest, key=lambda d: (d.free, device_order(d.id)))
        allocation[best.id] = left
    return allocation


def place(devices: Sequence[Device], whole: Decimal, shares: Decimal) -> Allocation | None:
    """Whole devices first, then shares on what is left; None if either does not fit."""
    taken = place_whole(devices, whole) if whole > 0 else {}
    if taken is None:
        return None
    rest = take(devices, taken)
    fraction = place_shares(rest, shares)
    if fraction is None:
        return None
    return merge(taken, fraction)


def take(devices: Sequence[Device], allocation: Mapping[str, Decimal]) -> list[Device]:
    """The devices after ``allocation`` is held on them."""
    return [Device(d.id, d.capacity, d.free - allocation.get(d.id, Decimal(0))) for d in devices]


def merge(a: Mapping[str, Decimal], b: Mapping[str, Decimal]) -> Allocation:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, Decimal(0)) + v
    return out


def spread(
    devices: Sequence[Device], ids: Sequence[str], whole: Decimal, shares: Decimal
) -> Allocation:
    """An allocation from the device ids a kernel was given (``attached_devices``) and what it
    asked for: whole devices first, then the shares in listed order (the remainder last)."""
    capacity = {d.id: d.capacity for d in devices}
    allocation: Allocation = {}
    wholes = int(whole) if whole > 0 else 0
    for device_id in ids[:wholes]:
        allocation[device_id] = capacity.get(device_id, Decimal(1))
    left = shares
    for device_id in ids[wholes:]:
        amount = min(left, capacity.get(device_id, Decimal(1)))
        if amount <= 0:
            break
        allocation[device_id] = allocation.get(device_id, Decimal(0)) + amount
        left -= amount
    return allocation


def device_order(device_id: str) -> tuple[int, str]:
    return (int(device_id), "") if device_id.isdigit() else (1 << 30, device_id)
