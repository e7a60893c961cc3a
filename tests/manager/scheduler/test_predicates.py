"""Admission predicates over snapshots: reasons with numbers, estimates, cancellations."""

from __future__ import annotations

from datetime import timedelta

from backendai.common.slots import ResourceSlot
from backendai.common.statuses import SessionResult, SessionStatus
from backendai.manager.scheduler.policy import schedule
from backendai.manager.scheduler.snapshot import Dependency, Snapshot
from tests.manager.scheduler.sim import NOW, agent, pending, uid


def test_keypair_concurrency_waits_with_the_limit_and_an_estimate() -> None:
    ends = (NOW + timedelta(minutes=5), NOW + timedelta(minutes=9))
    snap = Snapshot(
        NOW, (pending(1, max_concurrent=2), pending(2, max_concurrent=2)), (agent("a"),),
        keypair_running={"AK": 1}, keypair_releases={"AK": ends},
    )  # fmt: skip
    plan = schedule(snap)
    assert [a.session_id for a in plan.assignments] == [uid(1)]
    w = plan.waiting[uid(2)]
    assert w.reason == "keypair limit of 2 concurrent sessions reached"
    assert w.predicate == "keypair_concurrency" and w.position == 1
    # Two are running now (one from before, one just placed): the first to end lets it in.
    assert w.estimated_start == ends[0]


def test_group_and_domain_totals() -> None:
    group, domain = ("group", "g1"), ("domain", "default")
    snap = Snapshot(
        NOW,
        (pending(1, cpu="2", scopes=(group, domain)), pending(2, cpu="2", scopes=(group, domain)),
         pending(3, cpu="1", key="B", scopes=(domain,))),
        (agent("a", cpu="16"),),
        totals={group: ResourceSlot.from_json({"cpu": "3"}),
                domain: ResourceSlot.from_json({"cpu": "4"})},
        scope_used={domain: ResourceSlot.from_json({"cpu": "1"})},
    )  # fmt: skip
    plan = schedule(snap)
    assert sorted(a.session_id.int for a in plan.assignments) == [1, 3]
    w = plan.waiting[uid(2)]
    assert w.predicate == "group_resource_limit"
    assert w.reason == "group limit of 3 cpu (its sessions hold 2, this one needs 2) reached"


def test_domain_total_reason_names_the_domain() -> None:
    domain = ("domain", "research")
    snap = Snapshot(
        NOW, (pending(1, cpu="2", scopes=(domain,)),), (agent("a"),),
        totals={domain: ResourceSlot.from_json({"cpu": "1"})},
    )  # fmt: skip
    w = schedule(snap).waiting[uid(1)]
    assert w.predicate == "domain_resource_limit" and "domain research limit of 1 cpu" in w.reason


def test_starts_at_waits_until_then_and_estimates_it() -> None:
    later = NOW + timedelta(minutes=10)
    plan = schedule(Snapshot(NOW, (pending(1, starts_at=later),), (agent("a"),)))
    w = plan.waiting[uid(1)]
    assert (w.predicate, w.estimated_start) == ("starts_at", later)
    assert w.reason == f"waits to start at {later.isoformat()}"
    plan = schedule(Snapshot(later, (pending(1, starts_at=later),), (agent("a"),)))
    assert [a.session_id for a in plan.assignments] == [uid(1)]


def test_dependencies_wait_then_start_or_cancel_naming_the_failed_one() -> None:
    dep = uid(100)
    s = pending(1, dependencies=(dep,))
    running = {dep: Dependency("train-1", SessionStatus.RUNNING)}
    plan = schedule(Snapshot(NOW, (s,), (agent("a"),), dependencies=running))
    assert plan.waiting[uid(1)].reason == "waits for train-1 (RUNNING) to end successfully"
    ok = {dep: Dependency("train-1", SessionStatus.TERMINATED, SessionResult.SUCCESS)}
    assert schedule(Snapshot(NOW, (s,), (agent("a"),), dependencies=ok)).assignments
    for status, result in ((SessionStatus.ERROR, SessionResult.FAILURE),
                           (SessionStatus.CANCELLED, SessionResult.UNDEFINED),
                           (SessionStatus.TERMINATED, SessionResult.FAILURE)):  # fmt: skip
        failed = {dep: Dependency("train-1", status, result)}
        plan = schedule(Snapshot(NOW, (s,), (agent("a"),), dependencies=failed))
        assert plan.assignments == () and uid(1) not in plan.waiting
        assert plan.cancelled[uid(1)] == (
            f"cancelled: its dependency train-1 ended as {status.value} without success"
        )


def test_capacity_reason_names_the_slot_the_group_and_the_numbers() -> None:
    gpu = agent("g1", group="gpu", cpu="8", cuda_shares="1", used={"cuda.shares": "0.8"})
    s = pending(1, group="gpu", slots={"cpu": "1", "cuda.shares": "0.4"})
    w = schedule(Snapshot(NOW, (s,), (gpu,))).waiting[uid(1)]
    assert w.predicate == "agent_capacity"
    assert w.reason == "needs 0.4 cuda.shares; the most free on any agent of group gpu is 0.2"
    assert w.estimated_start is None  # nothing on the agent is expected to end


def test_capacity_estimate_from_sessions_ending() -> None:
    end = NOW + timedelta(minutes=30)
    busy = agent("a", cpu="4", used={"cpu": "3"})
    busy = type(busy)(**{**busy.__dict__,
                         "releases": ((end, ResourceSlot.from_json({"cpu": "2"})),)})  # fmt: skip
    w = schedule(Snapshot(NOW, (pending(1, cpu="2"),), (busy,))).waiting[uid(1)]
    assert w.estimated_start == end
    assert w.reason == "needs 2 cpu; the most free on any agent of group default is 1"


def test_queue_positions_count_within_each_resource_group() -> None:
    sessions = (pending(1, cpu="9"), pending(2, group="gpu", cpu="9"), pending(3, cpu="9"))
    plan = schedule(Snapshot(NOW, sessions, (agent("a"), agent("g", group="gpu"))))
    assert [plan.waiting[uid(n)].position for n in (1, 2, 3)] == [1, 1, 2]
