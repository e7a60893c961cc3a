"""Choosing an agent for a session, and saying why none fits.

``AgentPool`` keeps each agent's free slots as the pass places sessions. Agents are picked
within the session's resource group, among those that have its image:

- ``dispersed`` (the default; ``scheduler_opts: {"agent_selection": "dispersed"}``): the agent
  with the most free capacity (spreads load);
- ``concentrated``: the agent with the least free capacity that fits (packs agents, leaving
  others empty).

"Free capacity" is the free share of the agent's scarcest slot (ties: by agent id).

A session that asks for no ``cuda.*`` slot is kept off GPU agents (an agent with any ``cuda.*``
capacity) while another agent fits it. An agent reserved for a starving session (see
``policy``) takes no other session.

Picking is a heap per (group, GPU or not) keyed by a float score of the agent's free share;
entries are invalidated by version, so a pass costs O(log agents) per placement, not a scan.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from backendai.common.slots import ResourceSlot, format_amount
from backendai.manager.scheduler.devices import device_shortage
from backendai.manager.scheduler.snapshot import AgentState, PendingSession

Slots = dict[str, Decimal]
GPU_PREFIX = "cuda."
DISPERSED, CONCENTRATED = "dispersed", "concentrated"


def needs_gpu(requested: ResourceSlot) -> bool:
    return any(n.startswith(GPU_PREFIX) and v > 0 for n, v in requested.items())


def _fits(req: Slots, free: Slots) -> bool:
    return all(amount <= free.get(name, Decimal(0)) for name, amount in req.items())


class AgentPool:
    def __init__(
        self, agents: Sequence[AgentState], selection: Mapping[str, str] | None = None
    ) -> None:
        """``selection``: each resource group's agent selection (default: dispersed)."""
        self.agents = {a.id: a for a in agents}
        self.free: dict[str, Slots] = {a.id: dict(a.free) for a in agents}
        self._cap = {a.id: {n: float(v) for n, v in a.capacity.items() if v > 0} for a in agents}
        self._gpu = {a.id for a in agents if needs_gpu(a.capacity)}
        self._sign = {
            a.id: 1.0 if (selection or {}).get(a.scaling_group) == CONCENTRATED else -1.0
            for a in agents
        }
        self._version = dict.fromkeys(self.agents, 0)
        self._heaps: dict[tuple[str, bool], list[tuple[float, str, int]]] = {}
        for a in agents:
            self._heaps.setdefault((a.scaling_group, a.id in self._gpu), []).append(
                (self._score(a.id), a.id, 0)
            )
        for heap in self._heaps.values():
            heapq.heapify(heap)
        self.reserved: dict[str, uuid.UUID] = {}
        self._groups = sorted({a.scaling_group for a in agents})

    def _score(self, agent_id: str) -> float:
        """The agent's free share of its scarcest slot (the agent most likely to fit any
        session scores highest)."""
        free, cap = self.free[agent_id], self._cap[agent_id]
        share = min((float(free.get(n, 0)) / c for n, c in cap.items()), default=0.0)
        return self._sign[agent_id] * share

    def groups(self) -> list[str]:
        return self._groups

    def in_group(self, group: str | None) -> list[AgentState]:
        return [a for a in self.agents.values() if group in (None, a.scaling_group)]

    def pick(self, s: PendingSession) -> AgentState | None:
        """The agent to run ``s`` on now (not yet taken), or None."""
        req = s.needs
        own = self.reserved_for(s)
        if own is not None and _fits(req, self.free[own]) and self._devices_fit(s, own):
            return self.agents[own]
        groups = [s.scaling_group] if s.scaling_group is not None else self.groups()
        kinds = (True,) if any(n.startswith(GPU_PREFIX) for n in req) else (False, True)
        for gpu in kinds:
            for group in groups:
                found = self._pop_fitting(group, gpu, s, req)
                if found is not None:
                    return found
        return None

    def _pop_fitting(
        self, group: str, gpu: bool, s: PendingSession, req: Slots
    ) -> AgentState | None:
        heap = self._heaps.get((group, gpu))
        if not heap:
            return None
        popped: list[tuple[float, str, int]] = []
        found = None
        while heap:
            entry = heapq.heappop(heap)
            _, agent_id, version = entry
            if version != self._version[agent_id]:
                continue  # stale: the agent was taken from since
            popped.append(entry)
            if (
                agent_id not in self.reserved
                and s.image in self.agents[agent_id].images
                and _fits(req, self.free[agent_id])
                and self._devices_fit(s, agent_id)
            ):
                found = self.agents[agent_id]
                break
        for entry in popped:
            heapq.heappush(heap, entry)
        return found

    def _device_shortage(self, s: PendingSession, agent_id: str) -> str | None:
        """Why ``s`` does not fit the agent's devices (a fraction on one device, whole devices
        unused), counting what this pass placed there; None: it fits (devices.py)."""
        agent = self.agents[agent_id]
        if not agent.devices:
            return None
        placed = agent.free - self.free[agent_id]
        return device_shortage(s.requested, agent_id, agent.devices, placed)

    def _devices_fit(self, s: PendingSession, agent_id: str) -> bool:
        return self._device_shortage(s, agent_id) is None

    def take(self, agent_id: str, requested: ResourceSlot) -> None:
        free = self.free[agent_id]
        for name, amount in requested.items():
            free[name] = free.get(name, Decimal(0)) - amount
        self._version[agent_id] += 1
        agent = self.agents[agent_id]
        key = (agent.scaling_group, agent_id in self._gpu)
        heapq.heappush(self._heaps[key], (self._score(agent_id), agent_id, self._version[agent_id]))

    def reserved_for(self, s: PendingSession) -> str | None:
        if not self.reserved:
            return None
        return next((a for a, sid in self.reserved.items() if sid == s.id), None)

    def reserve(self, s: PendingSession) -> AgentState | None:
        """Keep the agent that is closest to fitting ``s`` (and could ever fit it) for ``s``
        alone: it takes no other session until ``s`` fits and starts there."""
        own = self.reserved_for(s)
        if own is not None:
            return self.agents[own]
        best: tuple[float, str] | None = None
        for a in self.in_group(s.scaling_group):
            if a.id in self.reserved or s.image not in a.images:
                continue
            if not s.requested.fits_in(a.capacity):
                continue
            free, cap = self.free[a.id], self._cap[a.id]
            short = sum(
                float(max(v - free.get(n, Decimal(0)), Decimal(0))) / cap.get(n, 1.0)
                for n, v in s.requested.items()
                if v > 0
            )
            if best is None or (short, a.id) < best:
                best = (short, a.id)
        if best is None:
            return None
        self.reserved[best[1]] = s.id
        return self.agents[best[1]]

    def shortage(self, s: PendingSession) -> tuple[str, str]:
        """(predicate, reason) for a session that no agent can take now."""
        group = s.scaling_group
        of = f" of group {group}" if group is not None else ""
        if not self.agents:
            return "no_agent", "no agent is available (none has sent a heartbeat recently)"
        in_group = self.in_group(group)
        if not in_group:
            return "no_agent", f"no agent of the resource group {group} is available"
        with_image = [a for a in in_group if s.image in a.images]
        if not with_image:
            return "image", f"no available agent{of} has the image {s.image}"
        usable = [a for a in with_image if a.id not in self.reserved or
                  self.reserved[a.id] == s.id]  # fmt: skip
        frees = [self.free[a.id] for a in usable]
        parts = []
        for name, amount in s.requested.nonzero().items():
            most = max((f.get(name, Decimal(0)) for f in frees), default=Decimal(0))
            if amount > most:
                parts.append(
                    f"needs {format_amount(name, amount)} {name}; the most free on any agent"
                    f"{of} is {format_amount(name, max(most, Decimal(0)))}"
                )
        if parts:
            return "agent_capacity", "; ".join(parts)
        for a in usable:  # enough in total, but not on one device
            why = self._device_shortage(s, a.id) if s.requested.fits_in(self.free[a.id]) else None
            if why is not None:
                return "device_capacity", why
        if len(usable) < len(with_image):
            return "agent_capacity", (
                f"needs {s.requested.nonzero().describe()} on one agent; the agents{of} that "
                "have it free are reserved for a session waiting longer"
            )
        return "agent_capacity", (
            f"needs {s.requested.nonzero().describe()} on one agent; no agent{of} has all "
            "of it free at once"
        )

    def estimate(self, s: PendingSession, now: datetime) -> datetime | None:
        """The earliest time some agent of the session's group would fit it, counting what its
        sessions free when they reach their lifetime or idle timeout (ignoring the sessions
        ahead in the queue); None when none is expected to end."""
        best: datetime | None = None
        for a in self.in_group(s.scaling_group):
            if s.image not in a.images or not a.releases or not s.requested.fits_in(a.capacity):
                continue
            free = dict(self.free[a.id])
            for when, slots in a.releases:
                if best is not None and when >= best:
                    break
                for n, v in slots.items():
                    free[n] = free.get(n, Decimal(0)) + v
                if s.requested.fits_in(free):
                    best = max(when, now)
                    break
        return best
