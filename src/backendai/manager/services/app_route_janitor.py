"""Routes end with their session: when a session ends, its app routes are deleted and their
proxies told (best effort).

Every status change goes out as an event after its transaction commits, whichever path ended
the session (``rm``, idle timeout, a crashed container, a failed start), so the janitor listens
on the event bus rather than on each of those paths. With several managers each hears the event;
a route's row is deleted by exactly one of them, and only that one calls the proxy. What a
manager missed while it was down is swept at its start, and a proxy that was down learns the
truth at its own start, when it asks the manager for its routes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import AppProxyUnavailable
from backendai.common.statuses import SessionStatus
from backendai.manager.appproxy_client import AppProxyClient
from backendai.manager.db.models import Session, SessionAppRoute
from backendai.manager.events import EventBus, EventName

log = logging.getLogger(__name__)

# Statuses in which a session keeps its routes (a restart keeps its kernels and apps' routes).
ROUTED_STATUSES = (SessionStatus.RUNNING, SessionStatus.RESTARTING)
_ENDING = frozenset(
    {EventName.SESSION_TERMINATED, EventName.SESSION_CANCELLED, EventName.KERNEL_TERMINATING}
)
RESUBSCRIBE_PAUSE = 0.5  # seconds before listening again after the bus cut this listener off


async def forget_route(proxies: AppProxyClient, proxy_id: str, route_id: uuid.UUID) -> None:
    """Tell a proxy to drop a route; a proxy that does not answer is only logged (it asks
    for its routes when it starts again)."""
    try:
        await proxies.delete_route(proxy_id, route_id)
    except AppProxyUnavailable as e:
        log.warning("route %s stays on app proxy %s until it restarts: %s", route_id, proxy_id, e)


class AppRouteJanitor:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], proxies: AppProxyClient, bus: EventBus
    ) -> None:
        self._db = db
        self._proxies = proxies
        self._bus = bus
        self._task: asyncio.Task[None] | None = None
        self._work: set[asyncio.Task[int]] = set()

    async def close_session(self, session_id: uuid.UUID) -> int:
        """Delete the session's routes and tell their proxies; returns how many this call
        deleted (another manager may have taken some)."""
        async with self._db() as db:
            rows = (
                await db.execute(
                    sa.select(SessionAppRoute.id, SessionAppRoute.proxy_id).where(
                        SessionAppRoute.session_id == session_id
                    )
                )
            ).all()
        return await self._delete((route_id, proxy_id) for route_id, proxy_id in rows)

    async def sweep(self) -> int:
        """Close the routes of every session that no longer runs."""
        async with self._db() as db:
            rows = (
                await db.execute(
                    sa.select(SessionAppRoute.id, SessionAppRoute.proxy_id)
                    .join(Session, Session.id == SessionAppRoute.session_id)
                    .where(Session.status.not_in(ROUTED_STATUSES))
                )
            ).all()
        return await self._delete((route_id, proxy_id) for route_id, proxy_id in rows)

    async def _delete(self, rows: Iterable[tuple[uuid.UUID, str]]) -> int:
        deleted = 0
        for route_id, proxy_id in rows:
            async with self._db() as db, db.begin():
                result = await db.execute(
                    sa.delete(SessionAppRoute).where(SessionAppRoute.id == route_id)
                )
            if getattr(result, "rowcount", 0):
                deleted += 1
                await forget_route(self._proxies, proxy_id, route_id)
        return deleted

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="app-route-janitor")

    async def close(self, grace: float = 5.0) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._work:
            _, pending = await asyncio.wait(list(self._work), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self) -> None:
        try:
            await self.sweep()
        except Exception:
            log.exception("could not sweep the app routes of ended sessions")
        while True:
            async with self._bus.subscribe() as sub:
                while True:
                    try:
                        ev = await sub.get()
                    except EOFError:  # cut off (fell behind, or shutting down): listen again
                        break
                    if ev is not None and ev.name in _ENDING:
                        self._spawn(ev.session_id)
            await asyncio.sleep(RESUBSCRIBE_PAUSE)
            await self._spawn_sweep()

    async def _spawn_sweep(self) -> None:
        """After a gap in listening: catch up on what ended meanwhile."""
        try:
            await self.sweep()
        except Exception:
            log.exception("could not sweep the app routes of ended sessions")

    def _spawn(self, session_id: uuid.UUID) -> None:
        task = asyncio.create_task(self._close_logged(session_id))
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    async def _close_logged(self, session_id: uuid.UUID) -> int:
        try:
            return await self.close_session(session_id)
        except Exception:
            log.exception("could not close the app routes of session %s", session_id)
            return 0
