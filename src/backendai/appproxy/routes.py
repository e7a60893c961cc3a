"""The routes this proxy serves: one listening port of the pool each, and their connections."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from backendai.appproxy.connection import ClientConnection
from backendai.appproxy.heads import RouteAccess
from backendai.appproxy.settings import AppProxySettings
from backendai.common.app_protocol import AppRoute, AppRouteSpec, ProxyStatus
from backendai.common.errors import AppProxyUnavailable

log = logging.getLogger(__name__)


@dataclass(eq=False)
class ServedRoute:
    """A route and its listener; connections read ``spec`` and ``access`` per request, so a
    replaced route applies to the very next request."""

    spec: AppRouteSpec
    port: int
    access: RouteAccess
    head_timeout: float
    tunnel_timeout: float
    handoff: Path | None = None  # the agent's app-handoff socket, when it is on this host
    hidden_cookies: frozenset[bytes] = frozenset()  # never forwarded to the app
    server: asyncio.Server | None = None
    connections: set[ClientConnection] = field(default_factory=set)
    active: bool = False  # carried bytes since the last activity report

    def close_connections(self) -> None:
        for conn in list(self.connections):
            conn.abort()


class RouteTable:
    def __init__(self, settings: AppProxySettings) -> None:
        self.settings = settings
        self.routes: dict[uuid.UUID, ServedRoute] = {}
        self._lock = asyncio.Lock()  # one change at a time: two PUTs never take one port

    def _access(self, spec: AppRouteSpec, port: int) -> RouteAccess:
        origin = self.settings.route_url(port).rstrip("/")
        return RouteAccess(port, spec.public, spec.token, frozenset({origin}))

    def _route(self, route: ServedRoute) -> AppRoute:
        return AppRoute(
            route_id=route.spec.route_id,
            port=route.port,
            url=self.settings.route_url(route.port),
            public=route.spec.public,
        )

    def status(self) -> ProxyStatus:
        return ProxyStatus(
            id=self.settings.id, ports=len(self.settings.ports), routes=len(self.routes)
        )

    def list(self) -> list[AppRoute]:
        return [self._route(r) for r in self.routes.values()]

    def take_active(self) -> set[uuid.UUID]:
        """The sessions whose routes carried bytes since the last call."""
        sessions = {r.spec.session_id for r in self.routes.values() if r.active}
        for route in self.routes.values():
            route.active = False
        return sessions

    async def put(self, spec: AppRouteSpec) -> AppRoute:
        async with self._lock:
            existing = self.routes.get(spec.route_id)
            if existing is not None:
                return self._replace(existing, spec)
            return self._route(await self._listen(spec))

    def _replace(self, route: ServedRoute, spec: AppRouteSpec) -> AppRoute:
        old = route.spec
        route.spec = spec
        route.handoff = self.settings.handoff_for(spec.agent_addr)
        route.access = self._access(spec, route.port)
        if (old.token, old.public, old.kernel_id, old.app) != (
            spec.token,
            spec.public,
            spec.kernel_id,
            spec.app,
        ):
            # Whoever was let in under the old rules (a public link now made private, a
            # token that was replaced) must not keep a live terminal.
            route.close_connections()
        return self._route(route)

    async def _listen(self, spec: AppRouteSpec) -> ServedRoute:
        pool = self.settings.ports
        used = {r.port for r in self.routes.values()}
        wanted = [p for p in (spec.port, spec.preferred_port) if p is not None]
        candidates = [p for p in wanted if p in pool and p not in used]
        candidates += [p for p in pool if p not in used and p not in wanted]
        loop = asyncio.get_running_loop()
        for port in candidates:
            route = ServedRoute(
                spec,
                port,
                self._access(spec, port),
                self.settings.head_timeout,
                self.settings.tunnel_timeout,
                self.settings.handoff_for(spec.agent_addr),
                frozenset(name.encode() for name in self.settings.hidden_cookies),
            )
            try:
                route.server = await loop.create_server(
                    functools.partial(ClientConnection, route),
                    self.settings.app_host,
                    port,
                    reuse_address=True,
                    backlog=1024,
                )
            except OSError as e:
                log.info("port %d of the pool is taken by another program: %s", port, e)
                continue
            self.routes[spec.route_id] = route
            return route
        raise AppProxyUnavailable(
            f"The app proxy {self.settings.id!r} has no free port left in "
            f"{self.settings.port_range} ({len(self.routes)} routes)."
        )

    async def delete(self, route_id: uuid.UUID) -> None:
        async with self._lock:
            route = self.routes.pop(route_id, None)
            if route is not None:
                await self._close(route)

    async def _close(self, route: ServedRoute) -> None:
        if route.server is not None:
            route.server.close()  # no new connections from here on
        route.close_connections()
        if route.server is not None:
            await route.server.wait_closed()

    async def close(self) -> None:
        async with self._lock:
            routes, self.routes = list(self.routes.values()), {}
            for route in routes:
                await self._close(route)

    def has(self, route_id: uuid.UUID) -> bool:
        return route_id in self.routes
