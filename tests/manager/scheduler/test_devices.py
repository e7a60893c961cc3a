"""Per-device placement: a fraction fits on ONE device of an agent, whole devices only on
unused ones; the reasons say so with numbers. Pure checks, the policy over snapshots, and the
per-device state loaded from the database (both engines)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backendai.common.devices import Device
from backendai.common.errors import InvalidRequest
from backendai.common.slots import ResourceSlot
from backendai.common.statuses import AgentStatus
from backendai.common.statuses import SessionStatus as S
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import Agent, Group, Kernel, KeyPair, Session
from backendai.manager.events import MemoryEventBus, session_factory
from backendai.manager.lifecycle import enqueue
from backendai.manager.scheduler.applier import apply_plan
from backendai.manager.scheduler.devices import (
    AgentDevices,
    DeviceLedger,
    agent_devices,
    device_shortage,
)
from backendai.manager.scheduler.policy import Assignment, Plan, fifo_first_fit
from backendai.manager.scheduler.snapshot import AgentState, PendingSession, Snapshot, load_snapshot
from backendai.manager.services.bootstrap import bootstrap

D = Decimal
NOW = datetime(2026, 1, 1, tzinfo=UTC)
GIB = 2**30
IMG = "backendai/python:3.11-debian12"


def cuda(*free: str) -> tuple[AgentDevices, ...]:
    devices = tuple(Device(str(i), D(1), D(f)) for i, f in enumerate(free))
    return (AgentDevices("cuda", "cuda.device", "cuda.shares", devices),)


def ask(**slots: str) -> ResourceSlot:
    return ResourceSlot.from_json({k.replace("_", "."): v for k, v in slots.items()})


def report(count: int) -> dict[str, object]:
    return {
        "cuda": {
            "device_slot": "cuda.device",
            "share_slot": "cuda.shares",
            "devices": [{"id": str(i), "capacity": "1", "free": "1"} for i in range(count)],
        }
    }


# --- the check -----------------------------------------------------------------------------


def test_a_fraction_must_fit_on_one_device() -> None:
    assert device_shortage(ask(cuda_shares="0.4"), "g1", cuda("0.3", "0.5")) is None
    assert device_shortage(ask(cuda_shares="0.4"), "g1", cuda("0.3", "0.3")) == (
        "needs 0.4 cuda.shares on one device; the most free on any device of agent g1 is 0.3"
    )


def test_whole_devices_must_be_unused() -> None:
    assert device_shortage(ask(cuda_device="1"), "g1", cuda("0.9", "1")) is None
    assert device_shortage(ask(cuda_device="2"), "g1", cuda("0.9", "1")) == (
        "needs 2 whole cuda.device; agent g1 has 1 of 2 device(s) unused"
    )
    assert "whole number" in str(device_shortage(ask(cuda_device="0.5"), "g1", cuda("1")))


def test_a_part_of_a_whole_device_is_refused_at_submit() -> None:
    with pytest.raises(InvalidRequest, match="whole devices"):
        ResourceSlot.parse({"cuda.device": "0.5"})
    assert ResourceSlot.parse({"cuda.device": "2", "cuda.shares": "0.4"}).to_json() == {
        "cuda.device": "2", "cuda.shares": "0.4",
    }  # fmt: skip


def test_requests_without_devices_always_fit() -> None:
    assert device_shortage(ask(cpu="1"), "a", cuda("0")) is None
    assert device_shortage(ask(cuda_shares="0.4"), "a", ()) is None  # the totals decide


def test_what_the_pass_placed_counts_against_every_device() -> None:
    # 0.4 placed earlier in the pass may be on either device: 0.4 more may not fit anywhere.
    placed = ask(cuda_shares="0.4")
    assert device_shortage(ask(cuda_shares="0.4"), "a", cuda("0.7", "0.5"), placed) is not None
    assert device_shortage(ask(cuda_shares="0.4"), "a", cuda("0.7", "0.5")) is None
    assert device_shortage(ask(cuda_shares="0.4"), "a", cuda("1", "0.5"), placed) is None
    # Whole devices placed earlier take unused devices.
    assert device_shortage(ask(cuda_device="1"), "a", cuda("1", "1"), ask(cuda_device="1")) is None
    assert device_shortage(ask(cuda_device="2"), "a", cuda("1", "1"), ask(cuda_device="1"))


def test_after_follows_placements_exactly() -> None:
    state = cuda("1", "1")[0]
    for _ in range(4):
        state = state.after(ask(cuda_shares="0.4"))
    assert sorted(d.free for d in state.devices) == [D("0.2"), D("0.2")]
    assert state.shortage(ask(cuda_shares="0.4"), "a") is not None


def test_state_from_the_report_and_the_kernels() -> None:
    kernels = [
        ({"cuda.shares": "0.4"}, {"cuda": ["1"]}),  # created: on the device the agent named
        ({"cuda.shares": "0.5"}, {}),  # placed, not created yet: where the agent will put it
        ({"cpu": "1"}, {}),
    ]
    (state,) = agent_devices(report(2), kernels)
    assert [(d.id, d.free) for d in state.devices] == [("0", D(1)), ("1", D("0.1"))]
    assert agent_devices({"cuda": {"bad": 1}}, kernels) == ()


# --- the policy --------------------------------------------------------------------------


def _pending(n: int, **slots: str) -> PendingSession:
    return PendingSession(
        id=uuid.UUID(int=n), name=f"s{n}", access_key="AK", image=IMG,
        requested=ask(cpu="1", mem=str(GIB), **slots), scaling_group=None,
        created_at=NOW + timedelta(seconds=n),
    )  # fmt: skip


def _gpu_agent(name: str, *free: str) -> AgentState:
    used = sum((D(1) - D(f) for f in free), D(0))
    return AgentState(
        id=name, scaling_group="default",
        capacity=ask(cpu="8", mem=str(16 * GIB), cuda_device=str(len(free)),
                     cuda_shares=str(len(free))),
        occupied=ask(cuda_shares=str(used)), images=frozenset([IMG]), devices=cuda(*free),
    )  # fmt: skip


def test_the_policy_keeps_a_fraction_on_one_device() -> None:
    # 0.6 free in total, 0.3 on each device: 0.4 waits, and says why.
    plan = fifo_first_fit(Snapshot(NOW, (_pending(1, cuda_shares="0.4"),),
                                   (_gpu_agent("g1", "0.3", "0.3"),)))  # fmt: skip
    assert plan.assignments == ()
    waiting = plan.waiting[uuid.UUID(int=1)]
    assert waiting.reason == (
        "needs 0.4 cuda.shares on one device; the most free on any device of agent g1 is 0.3"
    )
    assert waiting.position == 1


def test_the_seed_demo_two_of_three_fit_one_fgpu() -> None:
    sessions = tuple(_pending(n, cuda_shares="0.4") for n in (1, 2, 3))
    plan = fifo_first_fit(Snapshot(NOW, sessions, (_gpu_agent("g1", "1"),)))
    assert [a.session_id.int for a in plan.assignments] == [1, 2]
    waiting = plan.waiting[uuid.UUID(int=3)]
    assert "0.4 cuda.shares" in waiting.reason and "0.2" in waiting.reason
    assert waiting.position == 1


def test_whole_devices_are_not_given_once_shared() -> None:
    plan = fifo_first_fit(Snapshot(NOW, (_pending(1, cuda_device="1"),),
                                   (_gpu_agent("g1", "0.8"),)))  # fmt: skip
    assert plan.assignments == ()
    assert "needs 1 whole cuda.device" in plan.waiting[uuid.UUID(int=1)].reason


def test_the_ledger_follows_a_commit() -> None:
    ledger = DeviceLedger({"g1": cuda("1"), "cpu1": ()})
    assert ledger.take("g1", ask(cuda_shares="0.4")) and ledger.take("g1", ask(cuda_shares="0.4"))
    assert not ledger.take("g1", ask(cuda_shares="0.4"))
    assert ledger.take("cpu1", ask(cpu="1")) and ledger.take("other", ask(cpu="1"))


# --- from the database -------------------------------------------------------------------


async def _gpu_agent_with_kernels(
    engine: AsyncEngine, devices: int, kernels: list[tuple[S, str, list[str]]]
) -> tuple[async_sessionmaker[AsyncSession], uuid.UUID]:
    """An agent "gpu1" with ``devices`` mock devices, sessions whose kernels are on it
    (status, cuda.shares, attached device ids), and one more session, PENDING."""
    factory = session_factory(engine, MemoryEventBus())
    await bootstrap(factory)
    pending = uuid.uuid4()
    async with factory() as db, db.begin():
        kp = await db.scalar(sa.select(KeyPair).limit(1))
        group_id = await db.scalar(sa.select(Group.id).limit(1))
        assert kp is not None and group_id is not None
        total = str(devices)
        db.add(Agent(id="gpu1", status=AgentStatus.ALIVE, addr="http://127.0.0.1:1",
                     available_slots={"cpu": "8", "cuda.device": total, "cuda.shares": total},
                     compute_plugins=report(devices), images=[IMG]))  # fmt: skip
        await db.flush()
        for i, (status, shares, attached) in enumerate([*kernels, (S.PENDING, "0.4", [])]):
            sid = pending if status is S.PENDING else uuid.uuid4()
            s = Session(id=sid, name=f"d-{i}", domain_name="default", group_id=group_id,
                        user_uuid=kp.user, access_key=kp.access_key, image=IMG,
                        requested_slots={"cuda.shares": shares})  # fmt: skip
            k = Kernel(id=sid, session_id=sid, image=IMG)
            await enqueue(db, s, [k], reason="t")
            await db.flush()
            if status is not S.PENDING:
                k.agent, k.status, k.occupied_slots = "gpu1", status, {"cuda.shares": shares}
                k.attached_devices = {"cuda": attached} if attached else {}
                s.status = k.status
    return factory, pending


async def test_snapshot_reads_each_agents_devices(migrated_db: tuple[str, AsyncEngine]) -> None:
    # Two kernels hold 0.4 each (one named its device, one not yet); the ended one nothing.
    factory, _ = await _gpu_agent_with_kernels(
        migrated_db[1], 1,
        [(S.RUNNING, "0.4", ["0"]), (S.SCHEDULED, "0.4", []), (S.TERMINATED, "0.4", ["0"])],
    )  # fmt: skip
    async with factory() as db:
        snapshot = await load_snapshot(db, utcnow())
    (agent,) = snapshot.agents
    (state,) = agent.devices
    assert [(d.id, d.free) for d in state.devices] == [("0", D("0.2"))]


async def test_the_applier_never_splits_a_fraction(migrated_db: tuple[str, AsyncEngine]) -> None:
    # 0.3 free on each of two devices: 0.6 in total, yet a plan placing 0.4 there (a stale or
    # careless one) is not committed.
    factory, pending = await _gpu_agent_with_kernels(
        migrated_db[1], 2, [(S.RUNNING, "0.7", ["0"]), (S.RUNNING, "0.7", ["1"])]
    )
    plan = Plan((Assignment(pending, "gpu1", ask(cuda_shares="0.4")),), {})
    assert await apply_plan(factory, plan) == []
    async with factory() as db:
        assert (await db.get_one(Session, pending)).status is S.PENDING
