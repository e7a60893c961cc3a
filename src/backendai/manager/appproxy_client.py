"""The manager's side of the app proxies' control API (``backendai.common.app_protocol``).

Every call carries the shared app-proxy token. A proxy that cannot be reached, or answers
that it has no free port, is ``AppProxyUnavailable``: the caller tries another proxy.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from backendai.common.app_protocol import (
    APPPROXY_TOKEN_HEADER,
    PROXY_ROUTE,
    PROXY_STATUS,
    AppRoute,
    AppRouteSpec,
    ProxyStatus,
)
from backendai.common.errors import AppProxyUnavailable
from backendai.common.private import shared_token
from backendai.manager.settings import AppProxyEndpoint, ManagerSettings

log = logging.getLogger(__name__)

STATUS_TIMEOUT = 3.0  # a proxy slower than this to say how busy it is is left out of the pick
CALL_TIMEOUT = 15.0


def load_appproxy_token(settings: ManagerSettings) -> str:
    """The configured token, else the one kept in the data dir (created on first use), which
    an app proxy on the same machine reads."""
    if settings.appproxy_token:
        return settings.appproxy_token
    return shared_token(settings.appproxy_token_file)


@dataclass(frozen=True)
class ProxyLoad:
    endpoint: AppProxyEndpoint
    routes: int


class AppProxyClient:
    def __init__(self, token: str, endpoints: list[AppProxyEndpoint]) -> None:
        self.token = token
        self._endpoints = {e.id: e for e in endpoints}
        self._session: aiohttp.ClientSession | None = None

    @property
    def configured(self) -> bool:
        return bool(self._endpoints)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={APPPROXY_TOKEN_HEADER: self.token})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(
        self, proxy_id: str, method: str, path: str, limit: float = CALL_TIMEOUT, **kw: Any
    ) -> bytes:
        endpoint = self._endpoints.get(proxy_id)
        if endpoint is None:
            raise AppProxyUnavailable(f"The app proxy {proxy_id!r} is not configured any more.")
        url = endpoint.url.rstrip("/") + path
        try:
            async with self._http().request(
                method, url, timeout=aiohttp.ClientTimeout(total=limit), **kw
            ) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as e:
            raise AppProxyUnavailable(
                f"The app proxy {proxy_id!r} could not be reached: {type(e).__name__} {e}".rstrip()
            ) from e
        if status >= 400:
            text = body.decode("utf-8", errors="replace")[:300]
            raise AppProxyUnavailable(f"The app proxy {proxy_id!r} refused ({status}): {text}")
        return body

    async def status(self, proxy_id: str) -> ProxyStatus:
        body = await self._call(proxy_id, "GET", PROXY_STATUS, limit=STATUS_TIMEOUT)
        return ProxyStatus.model_validate_json(body)

    async def by_load(self) -> list[ProxyLoad]:
        """The proxies that answer, the least busy first (fewest routes)."""
        ids = list(self._endpoints)
        answers = await asyncio.gather(*(self.status(i) for i in ids), return_exceptions=True)
        loads = []
        for proxy_id, answer in zip(ids, answers, strict=True):
            if isinstance(answer, ProxyStatus):
                loads.append(ProxyLoad(self._endpoints[proxy_id], answer.routes))
            else:
                log.info("app proxy %s left out: %s", proxy_id, answer)
        return sorted(loads, key=lambda p: p.routes)

    async def put_route(self, proxy_id: str, spec: AppRouteSpec) -> AppRoute:
        path = PROXY_ROUTE.format(route_id=spec.route_id)
        body = await self._call(proxy_id, "PUT", path, json=spec.model_dump(mode="json"))
        return AppRoute.model_validate_json(body)

    async def delete_route(self, proxy_id: str, route_id: uuid.UUID) -> None:
        await self._call(proxy_id, "DELETE", PROXY_ROUTE.format(route_id=route_id))
