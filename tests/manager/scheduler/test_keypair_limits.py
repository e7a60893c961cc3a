"""A keypair policy's total slots as a scheduling predicate: pure decisions over snapshots."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from backendai.common.slots import ResourceSlot
from backendai.common.statuses import DefaultForUnspecified
from backendai.manager.scheduler.policy import fifo_first_fit
from backendai.manager.scheduler.snapshot import AgentState, PendingSession, Snapshot, limit_for

NOW = datetime(2026, 1, 1, tzinfo=UTC)
IMG = "backendai/python:3.11-debian12"
AGENT = AgentState(
    id="a", scaling_group="default", capacity=ResourceSlot.from_json({"cpu": "8", "mem": "64"}),
    occupied=ResourceSlot(), images=frozenset({IMG}),
)  # fmt: skip


def _pending(n: int, key: str, cpu: str, limit: dict[str, str] | None) -> PendingSession:
    return PendingSession(
        id=uuid.UUID(int=n), name=f"s{n}", access_key=key, image=IMG,
        requested=ResourceSlot.from_json({"cpu": cpu}), scaling_group=None,
        created_at=NOW + timedelta(seconds=n),
        keypair_limit=None if limit is None else ResourceSlot.from_json(limit),
    )  # fmt: skip


def test_sessions_of_a_keypair_together_stay_within_its_total_slots() -> None:
    limit = {"cpu": "3"}
    pending = (_pending(1, "AK", "2", limit), _pending(2, "AK", "2", limit),
               _pending(3, "AK", "1", limit), _pending(4, "OTHER", "4", None))  # fmt: skip
    plan = fifo_first_fit(Snapshot(NOW, pending, (AGENT,)))
    assert sorted(a.session_id.int for a in plan.assignments) == [1, 3, 4]
    reason = plan.waiting[uuid.UUID(int=2)].reason
    assert reason == "the keypair's resource policy allows in total 3 cpu (its sessions hold 3)"


def test_what_the_keypair_already_holds_counts() -> None:
    snap = Snapshot(
        NOW, (_pending(1, "AK", "1", {"cpu": "2"}),), (AGENT,),
        keypair_used={"AK": ResourceSlot.from_json({"cpu": "2"})},
    )  # fmt: skip
    plan = fifo_first_fit(snap)
    assert plan.assignments == ()
    assert "its sessions hold 2" in plan.waiting[uuid.UUID(int=1)].reason


def test_limit_for_unlimited_and_limited_defaults() -> None:
    asks = {"cpu": "1", "cuda.shares": "1"}
    assert limit_for(None, asks) is None
    assert limit_for(({}, DefaultForUnspecified.UNLIMITED), asks) is None
    unlimited = limit_for(({"cpu": "4"}, DefaultForUnspecified.UNLIMITED), asks)
    assert unlimited == ResourceSlot.from_json({"cpu": "4"})
    limited = limit_for(({"cpu": "4"}, DefaultForUnspecified.LIMITED), asks)
    assert limited is not None and limited.get_amount("cuda.shares") == 0
    assert "cuda.shares" in limited
