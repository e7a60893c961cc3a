"""The in-process event bus and the listeners' filters."""

from __future__ import annotations

import uuid

import pytest

from backendai.manager import events
from backendai.manager.events import EventFilter, EventName, MemoryEventBus, SessionEvent

GROUP = uuid.uuid4()


def _ev(name: EventName, session: str = "s1", owner: str = "AK1") -> SessionEvent:
    return SessionEvent(name=name, session_id=uuid.uuid5(uuid.NAMESPACE_DNS, session),
                        session_name=session, owner_access_key=owner, group_id=GROUP)  # fmt: skip


async def test_fan_out_to_every_subscriber() -> None:
    bus = MemoryEventBus()
    async with bus.subscribe() as a, bus.subscribe() as b:
        bus.publish(_ev(EventName.SESSION_ENQUEUED))
        for sub in (a, b):
            got = await sub.get(max_wait=1)
            assert got is not None and got.name is EventName.SESSION_ENQUEUED
            assert await sub.get(max_wait=0.01) is None
    bus.publish(_ev(EventName.SESSION_STARTED))  # nobody listens: no error


async def test_a_subscriber_that_falls_behind_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "SUBSCRIBER_QUEUE_SIZE", 2)
    bus = MemoryEventBus()
    async with bus.subscribe() as slow, bus.subscribe() as fast:
        for _ in range(3):
            bus.publish(_ev(EventName.SESSION_ENQUEUED))
            assert await fast.get(max_wait=1) is not None
        assert await slow.get(max_wait=1) is not None
        assert await slow.get(max_wait=1) is not None
        with pytest.raises(EOFError):
            await slow.get(max_wait=1)
        bus.close()
        with pytest.raises(EOFError):
            await fast.get(max_wait=1)


def test_filters() -> None:
    by_name = EventFilter(owner_access_key="AK1", session_name="s1")
    assert by_name.matches(_ev(EventName.SESSION_STARTED))
    assert not by_name.matches(_ev(EventName.SESSION_STARTED, session="s2"))
    assert not by_name.matches(_ev(EventName.SESSION_STARTED, owner="AK2"))
    assert by_name.follows_one_session
    everything = EventFilter(owner_access_key="AK1")
    assert everything.matches(_ev(EventName.KERNEL_STARTED, session="s9"))
    assert not everything.follows_one_session
    kernels = EventFilter(owner_access_key="AK1", scope="kernel")
    assert kernels.matches(_ev(EventName.KERNEL_STARTED))
    assert not kernels.matches(_ev(EventName.SESSION_STARTED))
    by_id = EventFilter(owner_access_key="AK1", session_name="other",
                        session_id=uuid.uuid5(uuid.NAMESPACE_DNS, "s1"))  # fmt: skip
    assert by_id.matches(_ev(EventName.SESSION_STARTED))  # the id wins over the name
    other_group = EventFilter(owner_access_key="AK1", group_id=uuid.uuid4())
    assert not other_group.matches(_ev(EventName.SESSION_STARTED))


def test_wire_data() -> None:
    ev = _ev(EventName.KERNEL_STARTED)
    assert ev.wire_data() == {"reason": "", "sessionName": "s1", "ownerAccessKey": "AK1",
                              "sessionId": str(ev.session_id)}  # fmt: skip
