"""What the proxy asks of and tells the manager: its routes at start, its activity since."""

from __future__ import annotations

import asyncio
import logging
import uuid

import aiohttp
from pydantic import TypeAdapter, ValidationError

from backendai.appproxy.routes import RouteTable
from backendai.common.app_protocol import (
    APPPROXY_TOKEN_HEADER,
    MANAGER_PROXY_ACTIVITY,
    MANAGER_PROXY_ROUTES,
    AppRouteSpec,
    ProxyActivity,
)
from backendai.common.errors import PlatformError

log = logging.getLogger(__name__)

_SPECS = TypeAdapter(list[AppRouteSpec])
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0
REQUEST_TIMEOUT_S = 10.0


class ManagerLink:
    def __init__(
        self, table: RouteTable, manager_url: str, token: str, activity_interval: float
    ) -> None:
        self._table = table
        self._url = manager_url.rstrip("/")
        self._headers = {APPPROXY_TOKEN_HEADER: token}
        self._interval = activity_interval
        self._pending: set[uuid.UUID] = set()  # reported once the manager takes them
        self.restored = asyncio.Event()

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(headers=self._headers, timeout=timeout) as http:
            await self._restore(http)
            while True:
                await asyncio.sleep(self._interval)
                await self._report(http)

    async def _restore(self, http: aiohttp.ClientSession) -> None:
        """Serve again what the manager says this proxy serves, asking until it answers: the
        manager may start after us (``up`` starts both; a restart of either alone)."""
        delay = RETRY_FIRST_S
        url = f"{self._url}{MANAGER_PROXY_ROUTES}"
        while True:
            try:
                async with http.get(url, params={"proxy": self._table.settings.id}) as resp:
                    resp.raise_for_status()
                    specs = _SPECS.validate_json(await resp.read())
                break
            except (aiohttp.ClientError, TimeoutError, ValidationError) as e:
                log.info("the manager at %s has no routes for us yet (%s); retrying", url, e)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        restored = 0
        for spec in specs:
            if self._table.has(spec.route_id):
                continue  # the manager PUT it meanwhile: that is newer
            try:
                await self._table.put(spec)
                restored += 1
            except PlatformError as e:
                log.warning("cannot serve route %s again: %s", spec.route_id, e)
        log.info("serving %d route(s) again as the manager asked", restored)
        self.restored.set()

    async def _report(self, http: aiohttp.ClientSession) -> None:
        self._pending |= self._table.take_active()
        if not self._pending:
            return
        body = ProxyActivity(proxy=self._table.settings.id, session_ids=sorted(self._pending))
        try:
            async with http.post(
                f"{self._url}{MANAGER_PROXY_ACTIVITY}",
                data=body.model_dump_json(),
                headers={"Content-Type": "application/json"},
            ) as resp:
                resp.raise_for_status()
            self._pending.clear()
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("cannot report app activity to the manager (kept for next time): %s", e)
