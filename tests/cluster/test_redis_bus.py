"""``RedisEventBus`` on a real Redis: events cross managers once each, wake-ups reach peers
only, the subscription comes back after Redis restarts, and the setting selects it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from backendai.manager.events import EventName, KernelRef, SessionEvent
from backendai.manager.events_redis import RedisEventBus, decode_event, encode_event
from tests.cluster.conftest import RedisServer
from tests.fixtures.platform import running_manager

pytestmark = pytest.mark.slow  # a real redis-server


def _event(name: str = "s1", kernel: bool = False) -> SessionEvent:
    ref = KernelRef(uuid.uuid4(), "main", 1) if kernel else None
    return SessionEvent(EventName.SESSION_STARTED, uuid.uuid4(), name, "AKTEST", uuid.uuid4(),
                        reason="why", kernel=ref, exit_code=3 if kernel else None)  # fmt: skip


@asynccontextmanager
async def _bus(url: str, origin: str) -> AsyncIterator[RedisEventBus]:
    bus = RedisEventBus(url, origin)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.aclose()


async def _until(check: Callable[[], bool], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_events_survive_encoding() -> None:
    for ev in (_event(), _event(kernel=True)):
        assert decode_event(encode_event(ev)) == ev


async def test_an_event_reaches_every_manager_once(redis_server: RedisServer) -> None:
    async with (
        _bus(redis_server.url, "a") as a,
        _bus(redis_server.url, "b") as b,
        a.subscribe() as on_a,
        b.subscribe() as on_b,
    ):
        ev = _event()
        a.publish(ev)
        assert await on_b.get(max_wait=5) == ev
        assert await on_a.get(max_wait=5) == ev
        assert await on_a.get(max_wait=0.3) is None  # no echo of its own event
        assert await on_b.get(max_wait=0.3) is None


async def test_wake_ups_reach_the_peers_only(redis_server: RedisServer) -> None:
    woken: list[str] = []
    async with _bus(redis_server.url, "a") as a, _bus(redis_server.url, "b") as b:
        a.on_peer_wake(lambda: woken.append("a"))
        b.on_peer_wake(lambda: woken.append("b"))
        for _ in range(5):
            a.wake_peers()
        await _until(lambda: "b" in woken)
        await asyncio.sleep(0.3)
        assert "a" not in woken and 1 <= woken.count("b") <= 5


async def test_the_bus_reconnects_after_redis_restarts(redis_server: RedisServer) -> None:
    async with (
        _bus(redis_server.url, "a") as a,
        _bus(redis_server.url, "b") as b,
        b.subscribe() as on_b,
    ):
        redis_server.stop()
        await _until(lambda: not a.connected and not b.connected)
        lost = _event("while-down")
        a.publish(lost)  # kept in A's outbox until Redis is back
        redis_server.start()
        await _until(lambda: a.connected and b.connected)
        after = _event("after")
        a.publish(after)
        first = await on_b.get(max_wait=5)
        # A's outbox kept ``lost`` and sends it first; B misses it only if A got through
        # before B had subscribed again
        assert first in (lost, after)
        if first == lost:
            assert await on_b.get(max_wait=5) == after


async def test_the_setting_selects_the_redis_bus(tmp_path: Path, redis_server: RedisServer) -> None:
    async with running_manager(tmp_path, event_bus="redis", redis_url=redis_server.url) as m:
        assert isinstance(m.ctx.events, RedisEventBus) and m.ctx.events.connected
    (tmp_path / "memory").mkdir()
    async with running_manager(tmp_path / "memory") as m:
        assert not isinstance(m.ctx.events, RedisEventBus)
