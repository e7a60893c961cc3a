"""Session lifecycle events and the bus that fans them out (API_CONTRACT §4).

Events are published after the transaction that caused them commits: ``lifecycle`` queues them
on the database session (its ``info`` outbox) and ``OutboxSession`` hands them to the bus on
commit, or drops them on rollback, so a listener never hears of a change that did not happen.

``MemoryEventBus`` serves one manager process; ``events_redis.RedisEventBus`` (setting
``event_bus = "redis"``) implements the same ``EventBus`` protocol for several managers.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import event, orm
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)

OUTBOX_KEY = "backendai.outbox"
BUS_KEY = "backendai.event_bus"
SUBSCRIBER_QUEUE_SIZE = 1024


class EventName(StrEnum):
    SESSION_ENQUEUED = "session_enqueued"
    # A PENDING session's reason for waiting changed (the reason is the event's ``reason``).
    SESSION_PENDING = "session_pending"
    SESSION_SCHEDULED = "session_scheduled"
    SESSION_PREPARING = "session_preparing"
    SESSION_STARTED = "session_started"
    SESSION_CANCELLED = "session_cancelled"
    SESSION_TERMINATED = "session_terminated"
    SESSION_SUCCESS = "session_success"
    SESSION_FAILURE = "session_failure"
    KERNEL_ENQUEUED = "kernel_enqueued"
    KERNEL_PREPARING = "kernel_preparing"
    KERNEL_PULLING = "kernel_pulling"
    KERNEL_CREATING = "kernel_creating"
    KERNEL_STARTED = "kernel_started"
    KERNEL_CANCELLED = "kernel_cancelled"
    KERNEL_TERMINATING = "kernel_terminating"
    KERNEL_TERMINATED = "kernel_terminated"
    # An app inside the session (its name is the event's ``reason``) was started by a user's
    # tunnel or route, or stopped by closing its route. Not Backend.AI 20.09 names: listeners
    # with a ``session`` or ``kernel`` scope do not get them.
    APP_STARTED = "app_started"
    APP_STOPPED = "app_stopped"

    @property
    def ends_session(self) -> bool:
        return self in (EventName.SESSION_TERMINATED, EventName.SESSION_CANCELLED)


@dataclass(frozen=True, slots=True)
class KernelRef:
    kernel_id: uuid.UUID
    cluster_role: str
    cluster_idx: int


@dataclass(frozen=True, slots=True)
class SessionEvent:
    name: EventName
    session_id: uuid.UUID
    session_name: str
    owner_access_key: str
    group_id: uuid.UUID
    reason: str = ""
    kernel: KernelRef | None = None
    exit_code: int | None = None

    def wire_data(self) -> dict[str, Any]:
        """The ``data:`` JSON of the SSE message, in Backend.AI's key order."""
        data: dict[str, Any] = {
            "reason": self.reason,
            "sessionName": self.session_name,
            "ownerAccessKey": self.owner_access_key,
            "sessionId": str(self.session_id),
        }
        if self.kernel is not None:
            data["kernelId"] = str(self.kernel.kernel_id)
            data["clusterRole"] = self.kernel.cluster_role
            data["clusterIdx"] = self.kernel.cluster_idx
        if self.exit_code is not None:
            data["exitCode"] = self.exit_code
        return data


class Subscription(Protocol):
    async def get(self, max_wait: float | None = None) -> SessionEvent | None:
        """The next event; None when ``max_wait`` seconds passed first. Raises EOFError when
        the subscription was closed."""
        ...


class EventBus(Protocol):
    def publish(self, event: SessionEvent) -> None:
        """Deliver to every current subscriber; never blocks the publisher."""
        ...

    def subscribe(self) -> AbstractAsyncContextManager[Subscription]:
        """``async with bus.subscribe() as sub``: events published while it is open."""
        ...

    def close(self) -> None:
        """End every subscription (their ``get`` raises EOFError)."""
        ...

    async def start(self) -> None:
        """Connect (a shared bus); called once before the manager serves."""
        ...

    async def aclose(self) -> None:
        """``close``, then let go of connections and background tasks."""
        ...

    def wake_peers(self) -> None:
        """Tell the other managers that resources were freed (their schedulers pass soon)."""
        ...

    def on_peer_wake(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` when another manager says resources were freed."""
        ...


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events one listener gets (``GET /events/session`` parameters, resolved)."""

    owner_access_key: str
    session_name: str = "*"  # may name a session that does not exist yet
    session_id: uuid.UUID | None = None  # wins over the name
    group_id: uuid.UUID | None = None
    scope: str = "*"  # "*", "session" or "kernel"

    @property
    def follows_one_session(self) -> bool:
        return self.session_id is not None or self.session_name != "*"

    def matches(self, ev: SessionEvent) -> bool:
        if ev.owner_access_key != self.owner_access_key:
            return False
        if self.session_id is not None:
            if ev.session_id != self.session_id:
                return False
        elif self.session_name != "*" and ev.session_name != self.session_name:
            return False
        if self.group_id is not None and ev.group_id != self.group_id:
            return False
        return self.scope == "*" or ev.name.value.startswith(f"{self.scope}_")


class _QueueSubscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[SessionEvent | None] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)
        self.closed = False

    async def get(self, max_wait: float | None = None) -> SessionEvent | None:
        if self.closed and self.queue.empty():
            raise EOFError("the subscription was closed")
        try:
            item = await asyncio.wait_for(self.queue.get(), max_wait)
        except TimeoutError:
            return None
        if item is None:
            raise EOFError("the subscription was closed")
        return item

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)


class MemoryEventBus:
    """In-process fan-out: one bounded queue per subscriber; a subscriber that falls
    ``SUBSCRIBER_QUEUE_SIZE`` events behind is cut off rather than slowing everyone."""

    def __init__(self) -> None:
        self._subscribers: set[_QueueSubscription] = set()

    def publish(self, event: SessionEvent) -> None:
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("an event subscriber fell behind; closing its stream")
                self._subscribers.discard(sub)
                sub.closed = True

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        sub = _QueueSubscription()
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)
            sub.close()

    def close(self) -> None:
        for sub in list(self._subscribers):
            sub.close()
        self._subscribers.clear()

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        self.close()

    def wake_peers(self) -> None:
        pass  # no peers in process

    def on_peer_wake(self, callback: Callable[[], None]) -> None:
        pass


class OutboxSession(orm.Session):
    """A database session that publishes the events queued on it once its transaction commits."""


@event.listens_for(OutboxSession, "after_commit")
def _publish_outbox(session: orm.Session) -> None:
    events: list[SessionEvent] = session.info.pop(OUTBOX_KEY, [])
    bus: EventBus | None = session.info.get(BUS_KEY)
    if bus is None:
        return
    for ev in events:
        bus.publish(ev)


@event.listens_for(OutboxSession, "after_soft_rollback")
def _drop_outbox(session: orm.Session, previous_transaction: orm.SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(OUTBOX_KEY, None)


def queue_event(db: AsyncSession, ev: SessionEvent) -> None:
    """Publish ``ev`` when ``db``'s transaction commits."""
    if BUS_KEY not in db.info:
        raise RuntimeError("this database session does not publish events (see session_factory)")
    db.info.setdefault(OUTBOX_KEY, []).append(ev)


def session_factory(engine: AsyncEngine, bus: EventBus) -> async_sessionmaker[AsyncSession]:
    """Database sessions that publish queued events to ``bus`` on commit."""
    return async_sessionmaker(
        engine, expire_on_commit=False, sync_session_class=OutboxSession, info={BUS_KEY: bus}
    )
