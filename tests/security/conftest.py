"""Tenants of a shared live platform, for trying it as a hostile user would.

``tenants`` adds, once per test run, to the live platform's database: two plain users of the
default domain (``alice``, ``bob``), an admin of the default domain (``dadmin``), a second
domain ``other`` with its own admin (``oadmin``) and user (``carol``); the superadmin
(``admin``) and ``demo`` come from the platform's bootstrap. Each tenant gives an SDK
configuration and a signed raw HTTP client for requests the SDK would never send.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import pytest
from yarl import URL

from backendai.client.config import APIConfig
from backendai.client.session import AsyncSession
from backendai.common.signing import signed_headers
from backendai.common.statuses import UserRole
from backendai.manager.db.engine import create_engine, create_session_factory
from backendai.manager.db.models import Domain, Group, ScalingGroupForDomain
from backendai.manager.services.bootstrap import create_user, ensure_defaults
from tests.fixtures.live import LiveServer

T = TypeVar("T")


@dataclass(frozen=True)
class Tenant:
    name: str
    email: str
    password: str
    access_key: str
    secret_key: str
    role: str
    domain: str
    endpoint: str

    def config(self) -> APIConfig:
        return APIConfig(
            endpoints=[self.endpoint],
            access_key=self.access_key,
            secret_key=self.secret_key,
            domain=self.domain,
        )

    @asynccontextmanager
    async def sdk(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(config=self.config()) as session:
            yield session

    def headers(
        self, method: str, rel_url: str, content_type: str = "application/json"
    ) -> dict[str, str]:
        base = URL(self.endpoint)
        headers = signed_headers(
            self.access_key, self.secret_key, method=method, rel_url=rel_url,
            host=f"{base.raw_host}:{base.port}", content_type=content_type,
        )  # fmt: skip
        headers["Content-Type"] = content_type
        return headers

    async def call(self, method: str, rel_url: str, body: Any = None) -> tuple[int, Any]:
        """A signed request; (status, decoded JSON or text)."""
        data = None if body is None else json.dumps(body)
        async with aiohttp.ClientSession() as http, http.request(
            method, self.endpoint + rel_url, data=data,
            headers=self.headers(method, rel_url), timeout=aiohttp.ClientTimeout(total=60),
        ) as resp:  # fmt: skip
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"query": query, "variables": variables or {}}
        status, answer = await self.call("POST", "/admin/gql", body)
        assert status == 200, answer
        assert isinstance(answer, dict)
        return answer


async def _add_tenants(live: LiveServer) -> dict[str, Tenant]:
    engine = create_engine(f"sqlite:///{live.data_dir / 'backendai.db'}")
    made = {}
    try:
        async with create_session_factory(engine)() as db, db.begin():
            default_group = await ensure_defaults(db)
            db.add(Domain(name="other", description="a second tenant domain"))
            db.add(ScalingGroupForDomain(scaling_group="default", domain="other"))
            await db.flush()
            other_group = Group(name="default", domain_name="other", resource_policy="default")
            db.add(other_group)
            await db.flush()
            for name, role, domain, group in [
                ("alice", UserRole.USER, "default", default_group),
                ("bob", UserRole.USER, "default", default_group),
                ("dadmin", UserRole.ADMIN, "default", default_group),
                ("oadmin", UserRole.ADMIN, "other", other_group.id),
                ("carol", UserRole.USER, "other", other_group.id),
            ]:
                creds = await create_user(
                    db, email=f"{name}@example.com", role=role, group_id=group, domain=domain
                )
                made[name] = Tenant(
                    name, creds.email, creds.password, creds.access_key, creds.secret_key,
                    role.value, domain, live.endpoint,
                )  # fmt: skip
    finally:
        await engine.dispose()
    for name in ("superadmin", "demo"):
        user = live.user(name)
        role = "superadmin" if name == "superadmin" else "user"
        made["admin" if name == "superadmin" else name] = Tenant(
            name, user["email"], user["password"], user["access_key"], user["secret_key"],
            role, "default", live.endpoint,
        )  # fmt: skip
    return made


@pytest.fixture(scope="session")
def tenants(live_server: LiveServer) -> Iterator[dict[str, Tenant]]:
    yield asyncio.run(_add_tenants(live_server))


async def within(seconds: float, work: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    """``work()``'s result and how long it took; fails the test past ``seconds``."""
    started = time.monotonic()
    try:
        result = await asyncio.wait_for(work(), timeout=seconds)
    except TimeoutError:
        pytest.fail(f"no answer within {seconds} s while another tenant was busy")
    return result, time.monotonic() - started
