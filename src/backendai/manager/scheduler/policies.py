"""Queue orders, one per resource group, loaded by short name (``ScalingGroup.scheduler``)
through the entry point group ``backendai.scheduler.policies``.

An order only says which pending session to consider next; admission and placement are the
same for all (``policy.schedule``). A session's priority (admins set it on create) always comes
first: higher priorities before lower, the policy's order within one priority.

- ``fifo``: oldest first.
- ``lifo``: newest first.
- ``drf``: Dominant Resource Fairness: the next session is the oldest one of the keypair whose
  dominant share (its largest fraction of any slot of the group's capacity) is the smallest,
  recomputed as the pass places sessions.
"""

from __future__ import annotations

import functools
import heapq
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from importlib.metadata import entry_points
from itertools import groupby
from typing import Protocol

from backendai.common.errors import ConfigurationError
from backendai.common.slots import ResourceSlot
from backendai.manager.scheduler.snapshot import PendingSession

ENTRY_POINT_GROUP = "backendai.scheduler.policies"


class QueueOrder(Protocol):
    def order(
        self,
        sessions: Sequence[PendingSession],
        capacity: ResourceSlot,
        used: Mapping[str, ResourceSlot],
    ) -> Iterator[PendingSession]:
        """The sessions of one resource group in the order to consider them. ``capacity``
        is the group's total; ``used`` what each keypair holds, kept current by the pass as
        it places the sessions yielded so far."""
        ...


def _by_priority(sessions: Sequence[PendingSession]) -> list[list[PendingSession]]:
    ordered = sorted(sessions, key=lambda s: -s.priority)
    return [list(g) for _, g in groupby(ordered, key=lambda s: s.priority)]


class FIFO:
    def order(
        self,
        sessions: Sequence[PendingSession],
        capacity: ResourceSlot,
        used: Mapping[str, ResourceSlot],
    ) -> Iterator[PendingSession]:
        for level in _by_priority(sessions):
            yield from sorted(level, key=lambda s: (s.created_at, s.id))


class LIFO:
    def order(
        self,
        sessions: Sequence[PendingSession],
        capacity: ResourceSlot,
        used: Mapping[str, ResourceSlot],
    ) -> Iterator[PendingSession]:
        for level in _by_priority(sessions):
            yield from sorted(level, key=lambda s: (s.created_at, s.id), reverse=True)


def dominant_share(used: ResourceSlot | None, capacity: ResourceSlot) -> Decimal:
    if used is None:
        return Decimal(0)
    return max(
        (v / capacity[n] for n, v in used.items() if capacity.get(n, Decimal(0)) > 0),
        default=Decimal(0),
    )


class DRF:
    def order(
        self,
        sessions: Sequence[PendingSession],
        capacity: ResourceSlot,
        used: Mapping[str, ResourceSlot],
    ) -> Iterator[PendingSession]:
        for level in _by_priority(sessions):
            queues: dict[str, deque[PendingSession]] = defaultdict(deque)
            for s in sorted(level, key=lambda s: (s.created_at, s.id)):
                queues[s.access_key].append(s)
            heap = [
                (dominant_share(used.get(k), capacity), q[0].created_at, k)
                for k, q in queues.items()
            ]
            heapq.heapify(heap)
            while heap:
                _, _, key = heapq.heappop(heap)
                queue = queues[key]
                yield queue.popleft()
                if queue:
                    share = dominant_share(used.get(key), capacity)
                    heapq.heappush(heap, (share, queue[0].created_at, key))


BUILTIN: Mapping[str, type[QueueOrder]] = {"fifo": FIFO, "lifo": LIFO, "drf": DRF}


@functools.cache
def load_policy(name: str) -> QueueOrder:
    """The queue order registered as ``name`` (built-ins need no installed entry point)."""
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        factory = ep.load()
        instance: QueueOrder = factory()
        return instance
    if name in BUILTIN:
        return BUILTIN[name]()
    known = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)} | set(BUILTIN))
    raise ConfigurationError(f"Unknown scheduler policy {name!r}; known: {', '.join(known)}.")
