"""Why a PENDING session waits: the scheduler's record in ``status_data["scheduler"]``.

The scheduler writes, for every session that stays PENDING after a pass::

    {"reason": "needs 3 cpu; the most free on any agent of group default is 1",
     "predicate": "agent_capacity", "queue_position": 2,
     "estimated_start": "2030-01-31T09:00:00+00:00"}   # or null when none can be derived

and the edge renders it where people look: ``status_info`` (the "Status Info" column of
``ps`` and the line of ``info``, in both our CLI and Backend.AI's 20.09 one, which print no
other field of a pending session) gets the reason, the queue position and the estimated start in
one line; ``status_data`` keeps the record as it is for scripts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SCHEDULER_KEY = "scheduler"


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class PendingReason:
    """One PENDING session's place in its resource group's queue, and why it waits."""

    reason: str
    predicate: str = ""
    queue_position: int | None = None  # 1 is the head of the queue
    estimated_start: datetime | None = None

    @classmethod
    def from_status_data(
        cls, data: Mapping[str, Any] | None, fallback_reason: str | None = None
    ) -> PendingReason | None:
        """The record in ``data`` (a session's status_data); None when there is none, or it
        says nothing about waiting (a scheduled session's record names its agent instead)."""
        record = data.get(SCHEDULER_KEY) if isinstance(data, Mapping) else None
        if not isinstance(record, Mapping):
            return None
        reason = record.get("reason") or fallback_reason or ""
        position = record.get("queue_position")
        if not isinstance(reason, str) or not reason:
            return None
        return cls(
            reason=reason,
            predicate=str(record.get("predicate") or ""),
            queue_position=position if isinstance(position, int) and position > 0 else None,
            estimated_start=_moment(record.get("estimated_start")),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``status_data["scheduler"]`` record."""
        return {
            "reason": self.reason,
            "predicate": self.predicate,
            "queue_position": self.queue_position,
            "estimated_start": (self.estimated_start.isoformat() if self.estimated_start else None),
        }

    def describe(self, scaling_group: str | None = None) -> str:
        """One line a person reads: ``<reason> (queue position 2 in resource group gpu,
        estimated start 2030-01-31 09:00:00 UTC)``."""
        notes = []
        if self.queue_position is not None:
            where = f" in resource group {scaling_group}" if scaling_group else ""
            notes.append(f"queue position {self.queue_position}{where}")
        if self.estimated_start is not None:
            notes.append(f"estimated start {self.estimated_start:%Y-%m-%d %H:%M:%S} UTC")
        return f"{self.reason} ({', '.join(notes)})" if notes else self.reason


def pending_status_info(
    status: str,
    status_info: str | None,
    status_data: Mapping[str, Any] | None,
    scaling_group: str | None = None,
) -> str | None:
    """What to show as a session's Status Info: for a PENDING session with a scheduler record,
    its reason, queue position and estimated start; otherwise ``status_info`` unchanged."""
    if status != "PENDING":
        return status_info
    pending = PendingReason.from_status_data(status_data, status_info)
    return pending.describe(scaling_group) if pending else status_info
