"""App routes for browsers: a session's app served by an app proxy on a port of its own.

Opening starts the app first (so a failing app answers with its log, not a dead page), then
places the route on the least busy proxy that answers (for a preferred port, on the first that
can give it, else on any), and stores it, so that every manager and a restarted proxy see it.
A private route's URL carries its token once (``APP_TOKEN_QUERY``); the proxy turns it into a
cookie. The proxy holds a tunnel ticket for the kernel's app, never the agent token.
"""

from __future__ import annotations

import logging
import secrets
import urllib.parse
import uuid
from collections.abc import Sequence
from typing import cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.app_protocol import (
    APP_TOKEN_QUERY,
    AppInfo,
    AppOpened,
    AppOpenRequest,
    AppProtocol,
    AppRoute,
    AppRouteSpec,
    AppStartRequest,
    ProxyActivity,
    make_tunnel_ticket,
)
from backendai.common.errors import AppProxyUnavailable, InvalidRequest, NotAvailable
from backendai.manager.appproxy_client import AppProxyClient
from backendai.manager.db.models import Kernel, Session, SessionAppRoute
from backendai.manager.services.app_route_janitor import ROUTED_STATUSES, forget_route
from backendai.manager.services.apps import AppService, check_app_request
from backendai.manager.services.idle import IdleReaper
from backendai.manager.services.kernel_access import KernelTarget

log = logging.getLogger(__name__)

ACTIVITY_CHUNK = 500  # session ids per query: well under every engine's bound on parameters


def _with_token(url: str, token: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = [*urllib.parse.parse_qsl(parts.query), (APP_TOKEN_QUERY, token)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def opened(row: SessionAppRoute) -> AppOpened:
    url = row.url if row.public else _with_token(row.url, row.token)
    return AppOpened(
        app=row.app, route_id=row.id, port=row.port, public=row.public, url=url, proxy=row.proxy_id
    )


class AppRouteService:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        apps: AppService,
        proxies: AppProxyClient,
        agent_token: str,
        idle: IdleReaper,
    ) -> None:
        self._db = db
        self._apps = apps
        self._proxies = proxies
        self._agent_token = agent_token
        self._idle = idle

    # Users ------------------------------------------------------------------------------------

    async def open(self, s: Session, app: str, req: AppOpenRequest) -> AppOpened:
        check_app_request(AppStartRequest(arguments=req.arguments, envs=req.envs))
        target, info = await self._apps.find(s, app)
        if info.protocol == "tcp":
            raise InvalidRequest(
                f"The app {app!r} speaks TCP, not HTTP, so a browser cannot open it: reach it "
                f"with `backend.ai app {s.name} {app}` instead."
            )
        if not self._proxies.configured:
            # Not a 503: waiting will not bring a proxy (``AppProxyUnavailable`` is for
            # configured proxies that are down or full); this deployment lacks the feature.
            raise NotAvailable(
                "This manager has no app proxy (setting appproxies), so apps cannot be opened "
                "in a browser here: reach them with `backend.ai app` instead."
            )
        row = await self._row(s.id, app)
        if row is not None:
            stored = AppStartRequest(arguments=row.arguments, envs=row.envs)
            await self._apps.start(s, target, app, stored)
            return await self._reopen(row, target, info, req.open_to_public)
        wanted = AppStartRequest(arguments=req.arguments, envs=req.envs)
        await self._apps.start(s, target, app, wanted)
        return await self._open_new(s, target, info, req)

    async def close(self, s: Session, app: str) -> None:
        """Close the app's route (if open) and stop the app."""
        target, _ = await self._apps.find(s, app)
        row = await self._row(s.id, app)
        if row is not None:
            async with self._db() as db, db.begin():
                result = await db.execute(
                    sa.delete(SessionAppRoute).where(SessionAppRoute.id == row.id)
                )
            if getattr(result, "rowcount", 0):
                await forget_route(self._proxies, row.proxy_id, row.id)
        await self._apps.stop(s, target, app)

    async def routes(self, s: Session) -> list[AppOpened]:
        async with self._db() as db:
            rows = await db.scalars(
                sa.select(SessionAppRoute)
                .where(SessionAppRoute.session_id == s.id)
                .order_by(SessionAppRoute.created_at)
            )
            return [opened(r) for r in rows]

    # Proxies ----------------------------------------------------------------------------------

    async def proxy_routes(self, proxy_id: str) -> list[AppRouteSpec]:
        """What ``proxy_id`` must serve: the routes placed on it of sessions that run."""
        async with self._db() as db:
            rows = (
                await db.execute(
                    sa.select(SessionAppRoute, Kernel.agent_addr)
                    .join(Session, Session.id == SessionAppRoute.session_id)
                    .join(Kernel, Kernel.id == SessionAppRoute.kernel_id)
                    .where(
                        SessionAppRoute.proxy_id == proxy_id,
                        Session.status.in_(ROUTED_STATUSES),
                        Kernel.agent_addr.is_not(None),
                    )
                    .order_by(SessionAppRoute.created_at)
                )
            ).all()
        return [self._spec(row, addr, port=row.port) for row, addr in rows if addr is not None]

    async def activity(self, act: ProxyActivity) -> int:
        """Touch the idle timer of the reported sessions that have routes on the reporting
        proxy (a proxy cannot keep other sessions alive); returns how many."""
        wanted = list(dict.fromkeys(act.session_ids))
        touched: list[uuid.UUID] = []
        async with self._db() as db:
            for start in range(0, len(wanted), ACTIVITY_CHUNK):
                chunk = wanted[start : start + ACTIVITY_CHUNK]
                touched.extend(
                    await db.scalars(
                        sa.select(SessionAppRoute.session_id)
                        .where(
                            SessionAppRoute.proxy_id == act.proxy,
                            SessionAppRoute.session_id.in_(chunk),
                        )
                        .distinct()
                    )
                )
        for session_id in touched:
            await self._idle.touch(session_id)
        return len(touched)

    # Placing routes ---------------------------------------------------------------------------

    def _spec(
        self,
        row: SessionAppRoute,
        agent_addr: str,
        *,
        preferred: int | None = None,
        port: int | None = None,
    ) -> AppRouteSpec:
        return AppRouteSpec(
            route_id=row.id, session_id=row.session_id, kernel_id=row.kernel_id, app=row.app,
            protocol=cast(AppProtocol, row.protocol),  # stored from an AppInfo
            agent_addr=agent_addr,
            ticket=make_tunnel_ticket(self._agent_token, row.kernel_id, row.app),
            arguments=row.arguments, envs=row.envs, public=row.public,
            token="" if row.public else row.token, preferred_port=preferred, port=port,
        )  # fmt: skip

    async def _open_new(
        self, s: Session, target: KernelTarget, info: AppInfo, req: AppOpenRequest
    ) -> AppOpened:
        row = SessionAppRoute(
            id=uuid.uuid4(), session_id=s.id, kernel_id=target.kernel_id, app=info.name,
            protocol=info.protocol, public=req.open_to_public, token=secrets.token_urlsafe(32),
            arguments=dict(req.arguments), envs=dict(req.envs),
        )  # fmt: skip
        spec = self._spec(row, target.addr, preferred=req.preferred_port)
        proxy_id, route = await self._place(spec, req.preferred_port)
        row.proxy_id, row.port, row.url = proxy_id, route.port, route.url
        try:
            async with self._db() as db, db.begin():
                db.add(row)
        except IntegrityError:
            # Opened at the same moment by another request: theirs stands, ours goes.
            await forget_route(self._proxies, proxy_id, row.id)
            existing = await self._row(s.id, info.name)
            if existing is None:
                raise
            return opened(existing)
        return opened(row)

    async def _reopen(
        self, row: SessionAppRoute, target: KernelTarget, info: AppInfo, public: bool
    ) -> AppOpened:
        """The same route (same token and port), made public or private as asked and put
        on its proxy again (which heals a proxy that lost it); elsewhere if that proxy is gone."""
        row.public = public
        try:
            route = await self._proxies.put_route(
                row.proxy_id, self._spec(row, target.addr, port=row.port)
            )
            proxy_id = row.proxy_id
        except AppProxyUnavailable as e:
            log.info("moving route %s off app proxy %s: %s", row.id, row.proxy_id, e)
            spec = self._spec(row, target.addr, preferred=row.port)
            proxy_id, route = await self._place(spec, row.port, exclude=(row.proxy_id,))
        async with self._db() as db, db.begin():
            await db.execute(
                sa.update(SessionAppRoute)
                .where(SessionAppRoute.id == row.id)
                .values(public=public, proxy_id=proxy_id, port=route.port, url=route.url)
            )
        row.proxy_id, row.port, row.url = proxy_id, route.port, route.url
        return opened(row)

    async def _place(
        self, spec: AppRouteSpec, preferred: int | None, exclude: Sequence[str] = ()
    ) -> tuple[str, AppRoute]:
        """Put the route on the least busy proxy that takes it; with a preferred port, on the
        first that gives that port, else on the first that took it at all."""
        loads = [p for p in await self._proxies.by_load() if p.endpoint.id not in exclude]
        if not loads:
            raise AppProxyUnavailable("No app proxy answers now; try again shortly.")
        fallback: tuple[str, AppRoute] | None = None
        for load in loads:
            proxy_id = load.endpoint.id
            try:
                route = await self._proxies.put_route(proxy_id, spec)
            except AppProxyUnavailable as e:
                log.info("app proxy %s did not take route %s: %s", proxy_id, spec.route_id, e)
                continue
            if preferred is None or route.port == preferred:
                if fallback is not None:
                    await forget_route(self._proxies, fallback[0], spec.route_id)
                return proxy_id, route
            if fallback is None:
                fallback = (proxy_id, route)
            else:
                await forget_route(self._proxies, proxy_id, spec.route_id)
        if fallback is not None:
            return fallback
        raise AppProxyUnavailable("No app proxy has a free port now; try again shortly.")

    async def _row(self, session_id: uuid.UUID, app: str) -> SessionAppRoute | None:
        async with self._db() as db:
            row: SessionAppRoute | None = await db.scalar(
                sa.select(SessionAppRoute).where(
                    SessionAppRoute.session_id == session_id, SessionAppRoute.app == app
                )
            )
            return row
