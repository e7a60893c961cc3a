"""FIFO first-fit over snapshots: pure decisions, no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from backendai.common.slots import ResourceSlot
from backendai.manager.scheduler.policy import fifo_first_fit, shortage_reason
from backendai.manager.scheduler.snapshot import AgentState, PendingSession, Snapshot

NOW = datetime(2026, 1, 1, tzinfo=UTC)
GiB = 1024**3
IMG = "backendai/python:3.11-debian12"


def _pending(n: int, cpu: str = "1", mem: int = GiB, **kw: object) -> PendingSession:
    return PendingSession(
        id=uuid.UUID(int=n), name=f"s{n}", access_key="AK", image=str(kw.get("image", IMG)),
        requested=ResourceSlot.from_json({"cpu": cpu, "mem": str(mem)}),
        scaling_group=None, created_at=NOW + timedelta(seconds=n),
        starts_at=kw.get("starts_at"),  # type: ignore[arg-type]
    )  # fmt: skip


def _agent(name: str, cpu: str = "4", used_cpu: str = "0", images: tuple[str, ...] = (IMG,)
           ) -> AgentState:  # fmt: skip
    return AgentState(
        id=name, scaling_group="default",
        capacity=ResourceSlot.from_json({"cpu": cpu, "mem": str(16 * GiB)}),
        occupied=ResourceSlot.from_json({"cpu": used_cpu}), images=frozenset(images),
    )  # fmt: skip


def test_first_fit_in_order_with_accounting() -> None:
    snap = Snapshot(NOW, (_pending(1, "3"), _pending(2, "3"), _pending(3, "1")),
                    (_agent("a"), _agent("b")))  # fmt: skip
    plan = fifo_first_fit(snap)
    assert [(a.session_id.int, a.agent_id) for a in plan.assignments] == [
        (1, "a"), (2, "b"), (3, "a")
    ]  # fmt: skip
    assert plan.waiting == {}


def test_no_head_of_line_blocking_and_reasons() -> None:
    snap = Snapshot(NOW, (_pending(1, "4"), _pending(2, "1"), _pending(3, "8")),
                    (_agent("a", used_cpu="2"),))  # fmt: skip
    plan = fifo_first_fit(snap)
    assert [a.session_id.int for a in plan.assignments] == [2]
    w1, w3 = plan.waiting[uuid.UUID(int=1)], plan.waiting[uuid.UUID(int=3)]
    assert w1.reason == "needs 4 cpu; the most free on any agent is 1" and w1.position == 1
    assert w3.position == 2


def test_reasons_for_missing_agents_images_and_start_times() -> None:
    plan = fifo_first_fit(Snapshot(NOW, (_pending(1),), ()))
    assert "no agent is available" in plan.waiting[uuid.UUID(int=1)].reason
    plan = fifo_first_fit(Snapshot(NOW, (_pending(1, image="other:1"),), (_agent("a"),)))
    assert plan.waiting[uuid.UUID(int=1)].reason == "no available agent has the image other:1"
    assert plan.waiting[uuid.UUID(int=1)].predicate == "image"
    later = _pending(1, starts_at=NOW + timedelta(hours=1))
    plan = fifo_first_fit(Snapshot(NOW, (later,), (_agent("a"),)))
    assert plan.assignments == () and "waits to start" in plan.waiting[uuid.UUID(int=1)].reason


def test_shortage_reason_when_no_single_agent_has_everything() -> None:
    want = ResourceSlot.from_json({"cpu": "2", "mem": str(2 * GiB)})
    free = [ResourceSlot.from_json({"cpu": "4", "mem": str(GiB)}),
            ResourceSlot.from_json({"cpu": "1", "mem": str(4 * GiB)})]  # fmt: skip
    assert shortage_reason(want, free) == "no single agent has cpu 2, mem 2 GiB free at once"
    assert shortage_reason(want, []) == (
        "no agent has 2 free cpu (largest free: 0); no agent has 2 GiB free mem (largest free: 0 B)"
    )
