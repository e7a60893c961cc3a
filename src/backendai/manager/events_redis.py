"""The event bus shared by several manager processes through Redis (``event_bus = "redis"``).

Redis pub/sub rather than streams: these events are live notifications (``/events/session``
and scheduler wake-ups), the database keeps the state they announce, and a listener that was
not connected has nothing to replay (the in-process bus keeps no history either). Pub/sub keeps
nothing in Redis and lets Redis cut off a client that does not read (its output buffer limit).

Each manager holds one subscriber connection and fans events out locally through a
``MemoryEventBus``, so memory per ``/events/session`` listener is the same bounded queue as in
process. An event published here reaches local listeners at once, and other managers through
Redis; each message carries its publisher's id so that a manager skips its own echo.

Publishing never blocks the publisher: messages go through a bounded outbox drained by one task
(in order). While Redis is unreachable both tasks retry with growing pauses; the outbox keeps
the newest ``OUTBOX_SIZE`` messages and drops older ones (with a warning). Events published
elsewhere while this manager's subscription was down are not seen here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from backendai.manager.events import (
    EventName,
    KernelRef,
    MemoryEventBus,
    SessionEvent,
    Subscription,
)

log = logging.getLogger(__name__)

CHANNEL = "backendai.manager.events"
OUTBOX_SIZE = 10_000
RETRY_MIN_S = 0.1
RETRY_MAX_S = 2.0
HEALTH_CHECK_S = 10
CONNECT_WAIT_S = 5.0
_EVENT, _WAKE = "event", "wake"


def encode_event(ev: SessionEvent) -> dict[str, Any]:
    k = ev.kernel
    return {
        "name": ev.name.value,
        "session_id": str(ev.session_id),
        "session_name": ev.session_name,
        "owner_access_key": ev.owner_access_key,
        "group_id": str(ev.group_id),
        "reason": ev.reason,
        "kernel": None if k is None else [str(k.kernel_id), k.cluster_role, k.cluster_idx],
        "exit_code": ev.exit_code,
    }


def decode_event(d: dict[str, Any]) -> SessionEvent:
    k = d.get("kernel")
    return SessionEvent(
        name=EventName(d["name"]),
        session_id=uuid.UUID(d["session_id"]),
        session_name=d["session_name"],
        owner_access_key=d["owner_access_key"],
        group_id=uuid.UUID(d["group_id"]),
        reason=d.get("reason") or "",
        kernel=None if k is None else KernelRef(uuid.UUID(k[0]), str(k[1]), int(k[2])),
        exit_code=d.get("exit_code"),
    )


class RedisEventBus:
    def __init__(self, url: str, origin: str, *, channel: str = CHANNEL) -> None:
        self._url = url
        self._origin = origin
        self._channel = channel
        self._local = MemoryEventBus()
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue(OUTBOX_SIZE)
        self._wake_queued = False
        self._wake_callbacks: list[Callable[[], None]] = []
        self._subscribed = asyncio.Event()
        self._redis: aioredis.Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._dropped = 0

    # EventBus ------------------------------------------------------------------------------

    def publish(self, event: SessionEvent) -> None:
        self._local.publish(event)
        self._send({"kind": _EVENT, "event": encode_event(event)})

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        async with self._local.subscribe() as sub:
            yield sub

    def close(self) -> None:
        self._local.close()

    def wake_peers(self) -> None:
        if not self._wake_queued:  # one queued wake-up stands for many
            self._wake_queued = True
            self._send({"kind": _WAKE})

    def on_peer_wake(self, callback: Callable[[], None]) -> None:
        self._wake_callbacks.append(callback)

    async def start(self) -> None:
        """Connect and subscribe; waits up to ``CONNECT_WAIT_S`` for Redis, then goes on
        retrying in the background (events stay local meanwhile)."""
        if self._redis is not None:
            return
        self._redis = aioredis.from_url(self._url, health_check_interval=HEALTH_CHECK_S)
        self._tasks = [
            asyncio.create_task(self._listen(), name="event-bus-listen"),
            asyncio.create_task(self._drain(), name="event-bus-publish"),
        ]
        try:
            await asyncio.wait_for(self._subscribed.wait(), CONNECT_WAIT_S)
        except TimeoutError:
            log.error("Redis at %s is not reachable; other managers' events are not seen "
                      "until it is", self._url)  # fmt: skip

    async def aclose(self) -> None:
        self.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._redis is not None:
            redis, self._redis = self._redis, None
            await redis.aclose()

    @property
    def connected(self) -> bool:
        """Whether the subscription to Redis is up now."""
        return self._subscribed.is_set()

    # Redis ---------------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        item = (message["kind"], json.dumps({**message, "origin": self._origin}))
        while True:
            try:
                self._outbox.put_nowait(item)
                return
            except asyncio.QueueFull:
                self._outbox.get_nowait()  # keep the newest
                self._dropped += 1
                if self._dropped in (1, 100) or self._dropped % 10_000 == 0:
                    log.warning("Redis is behind; %d events were not sent to other managers",
                                self._dropped)  # fmt: skip

    async def _drain(self) -> None:
        assert self._redis is not None
        while True:
            kind, data = await self._outbox.get()
            delay = RETRY_MIN_S
            while True:
                try:
                    await self._redis.publish(self._channel, data)
                    break
                except (RedisError, OSError) as e:
                    if delay == RETRY_MIN_S:
                        log.warning("publishing to Redis failed (%s); retrying", e)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX_S)
            if kind == _WAKE:
                self._wake_queued = False

    async def _listen(self) -> None:
        assert self._redis is not None
        delay = RETRY_MIN_S
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                if delay > RETRY_MIN_S:
                    log.info("subscribed to Redis again")
                self._subscribed.set()
                delay = RETRY_MIN_S
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._receive(message["data"])
            except (RedisError, OSError) as e:
                if self._subscribed.is_set() or delay == RETRY_MIN_S:
                    log.warning("the Redis subscription broke (%s); reconnecting", e)
            finally:
                self._subscribed.clear()
                close: Callable[[], Awaitable[None]] = pubsub.aclose  # untyped in redis-py
                with suppress(RedisError, OSError):
                    await close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def _receive(self, raw: bytes | str) -> None:
        try:
            message = json.loads(raw)
            if message.get("origin") == self._origin:
                return
            if message.get("kind") == _EVENT:
                self._local.publish(decode_event(message["event"]))
            elif message.get("kind") == _WAKE:
                for callback in self._wake_callbacks:
                    callback()
        except (ValueError, KeyError, TypeError, IndexError) as e:
            log.warning("ignoring a malformed message on %s: %s", self._channel, e)
