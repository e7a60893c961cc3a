"""Queue orders, head-of-line skipping without starvation, and agent selection: pure."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backendai.common.errors import ConfigurationError
from backendai.manager.scheduler.policies import DRF, FIFO, LIFO, load_policy
from backendai.manager.scheduler.policy import RESERVE_AFTER_S, schedule
from backendai.manager.scheduler.snapshot import GroupConfig, Snapshot
from tests.manager.scheduler.sim import NOW, agent, pending, uid


def _groups(scheduler: str = "fifo", **opts: object) -> dict[str, GroupConfig]:
    return {"default": GroupConfig(scheduler, opts)}


def test_policies_load_by_short_name() -> None:
    assert isinstance(load_policy("fifo"), FIFO)
    assert isinstance(load_policy("lifo"), LIFO)
    assert isinstance(load_policy("drf"), DRF)
    with pytest.raises(ConfigurationError, match="Unknown scheduler policy 'nope'"):
        load_policy("nope")


def test_fifo_and_lifo_orders_with_priority_first() -> None:
    sessions = (pending(1), pending(2), pending(3, priority=5), pending(4))
    one_slot = (agent("a", cpu="1"),)
    fifo = schedule(Snapshot(NOW, sessions, one_slot, groups=_groups("fifo")))
    lifo = schedule(Snapshot(NOW, sessions, one_slot, groups=_groups("lifo")))
    assert [a.session_id for a in fifo.assignments] == [uid(3)]
    assert [a.session_id for a in lifo.assignments] == [uid(3)]
    assert [n for n in (1, 2, 4) if fifo.waiting[uid(n)].position == 1] == [1]
    assert [n for n in (1, 2, 4) if lifo.waiting[uid(n)].position == 1] == [4]
    two = (agent("a", cpu="2"),)
    assert [a.session_id.int for a in schedule(Snapshot(NOW, sessions, two)).assignments] == [3, 1]
    lifo2 = schedule(Snapshot(NOW, sessions, two, groups=_groups("lifo")))
    assert [a.session_id.int for a in lifo2.assignments] == [3, 4]


def test_drf_serves_the_keypair_with_the_smallest_dominant_share() -> None:
    # A asked first for many sessions; B came later. DRF alternates, FIFO serves A first.
    sessions = tuple(pending(n, key="A") for n in range(1, 5)) + tuple(
        pending(n, key="B") for n in range(5, 9)
    )
    agents = (agent("a", cpu="4"),)
    drf = schedule(Snapshot(NOW, sessions, agents, groups=_groups("drf")))
    assert sorted(a.session_id.int for a in drf.assignments) == [1, 2, 5, 6]
    fifo = schedule(Snapshot(NOW, sessions, agents))
    assert sorted(a.session_id.int for a in fifo.assignments) == [1, 2, 3, 4]


def test_head_of_line_a_huge_request_does_not_block_small_ones_behind_it() -> None:
    huge = pending(1, cpu="8")  # fits an agent's capacity, but not while others run there
    small = tuple(pending(n) for n in range(2, 6))
    agents = (agent("a", cpu="8", used={"cpu": "6"}), agent("b", cpu="8", used={"cpu": "6"}))
    plan = schedule(Snapshot(NOW, (huge, *small), agents))
    assert sorted(a.session_id.int for a in plan.assignments) == [2, 3, 4, 5]
    assert plan.waiting[uid(1)].position == 1
    assert plan.waiting[uid(1)].reason.startswith("needs 8 cpu; the most free")


def test_a_starving_head_reserves_an_agent_and_then_starts() -> None:
    age = RESERVE_AFTER_S + 1
    huge = pending(1, cpu="8", age=age)
    small = tuple(pending(n) for n in range(2, 6))
    a = agent("a", cpu="8", used={"cpu": "6"})
    b = agent("b", cpu="8", used={"cpu": "5"})
    plan = schedule(Snapshot(NOW, (huge, *small), (a, b)))
    # "b" is closest to fitting it: reserved, so the small ones only go to "a".
    assert sorted(x.agent_id for x in plan.assignments) == ["a", "a"]
    w = plan.waiting[uid(1)]
    assert w.position == 1 and "agent b is reserved for it" in w.reason
    assert {plan.waiting[uid(n)].position for n in (4, 5)} == {2, 3}
    # "b" drains (its sessions end); the huge session starts there before any small one.
    drained = agent("b", cpu="8")
    plan = schedule(Snapshot(NOW, (huge, *small[2:]), (a, drained)))
    assert next((x.session_id.int, x.agent_id) for x in plan.assignments) == (1, "b")


def test_reserve_after_is_a_group_option() -> None:
    huge = pending(1, cpu="8", age=60)
    agents = (agent("a", cpu="8", used={"cpu": "1"}),)
    plan = schedule(Snapshot(NOW, (huge, pending(2)), agents, groups=_groups(reserve_after=30)))
    assert plan.assignments == ()
    assert "reserved for it" in plan.waiting[uid(1)].reason
    plan = schedule(Snapshot(NOW, (huge, pending(2)), agents))
    assert [x.session_id for x in plan.assignments] == [uid(2)]


def test_starvation_counts_from_starts_at() -> None:
    huge = pending(1, cpu="8", age=RESERVE_AFTER_S * 2, starts_at=NOW - timedelta(seconds=10))
    agents = (agent("a", cpu="8", used={"cpu": "1"}),)
    plan = schedule(Snapshot(NOW, (huge, pending(2)), agents))
    assert [x.session_id for x in plan.assignments] == [uid(2)]


def test_dispersed_spreads_and_concentrated_packs() -> None:
    sessions = (pending(1), pending(2), pending(3))
    agents = (agent("a", cpu="4"), agent("b", cpu="4", used={"cpu": "1"}))
    spread = schedule(Snapshot(NOW, sessions, agents))
    assert [x.agent_id for x in spread.assignments] == ["a", "a", "b"]  # most free (ties: id)
    packed = schedule(
        Snapshot(NOW, sessions, agents, groups=_groups(agent_selection="concentrated"))
    )
    assert [x.agent_id for x in packed.assignments] == ["b", "b", "b"]


def test_sessions_without_gpu_stay_off_gpu_agents_while_others_fit() -> None:
    gpu = agent("gpu-1", cpu="16", cuda_shares="4")
    cpu = agent("cpu-1", cpu="2")
    sessions = (pending(1), pending(2), pending(3), pending(4, slots={"cuda.shares": "0.5"}))
    plan = schedule(Snapshot(NOW, sessions, (gpu, cpu)))
    placed = {x.session_id.int: x.agent_id for x in plan.assignments}
    assert placed == {1: "cpu-1", 2: "cpu-1", 3: "gpu-1", 4: "gpu-1"}


def test_sessions_stay_within_their_resource_group() -> None:
    plan = schedule(Snapshot(NOW, (pending(1, group="gpu"),), (agent("a"),)))
    assert plan.assignments == ()
    assert plan.waiting[uid(1)].reason == "no agent of the resource group gpu is available"
