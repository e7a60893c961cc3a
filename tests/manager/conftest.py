"""A manager with fast background loops and a fake agent, plus helpers the session tests share."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from backendai.common.statuses import SessionStatus
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import Kernel, Session, SessionStatusChange
from tests.fixtures.platform import ManagerHarness, running_manager
from tests.manager.fake_agent import FakeAgent

FAST = {"scheduler_interval": 0.2, "kernel_vanish_grace": 0.0, "sse_ping_interval": 0.2}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[ManagerHarness]:
    """A manager whose scheduler runs every 0.2 s (and on every enqueue)."""
    async with running_manager(tmp_path, **FAST) as harness:
        yield harness


@pytest.fixture
async def agent() -> AsyncIterator[FakeAgent]:
    fake = FakeAgent()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


@pytest.fixture
async def joined(platform: ManagerHarness, agent: FakeAgent) -> FakeAgent:
    """The fake agent, registered with the manager by one heartbeat."""
    assert await agent.send_heartbeat(platform) == 200
    return agent


@pytest.fixture
async def lost_agent(platform: ManagerHarness, agent: FakeAgent) -> FakeAgent:
    """The fake agent after one heartbeat (its images are known) and then LOST: sessions
    created now stay PENDING."""
    assert await agent.send_heartbeat(platform) == 200
    assert await platform.ctx.agents.mark_lost(utcnow() + timedelta(minutes=5)) == ["agent-1"]
    return agent


def create_body(name: str, image: str = "python", **extra: Any) -> dict[str, Any]:
    """``POST /session`` exactly as Backend.AI's client 20.09 sends it."""
    config: dict[str, Any] = {"mounts": [], "environ": {}, "resources": {}, "resource_opts": {},
              "scalingGroup": None, "mount_map": {}, "preopen_ports": []}  # fmt: skip
    config.update(extra.pop("config", {}))
    body = {
        "tag": None, "name": name, "config": config, "clusterSize": 1,
        "clusterMode": "single-node", "starts_at": None, "bootstrap_script": None,
        "owner_access_key": None, "domain": "default", "group": "default",
        "type": "interactive", "enqueueOnly": False, "maxWaitSeconds": 0,
        "reuseIfExists": True, "startupCommand": None, "image": image,
    }  # fmt: skip
    body.update(extra)
    return body


async def create(
    manager: ManagerHarness, name: str, image: str = "python", **extra: Any
) -> tuple[int, dict[str, Any]]:
    resp = await manager.signed("POST", "/session", body=create_body(name, image, **extra))
    return resp.status, await resp.json()


async def json_of(resp: aiohttp.ClientResponse) -> Any:
    return await resp.json(content_type=None)


async def session_row(manager: ManagerHarness, session_id: uuid.UUID | str) -> Session:
    async with manager.ctx.db() as db:
        return await db.get_one(Session, uuid.UUID(str(session_id)), populate_existing=True)


async def kernel_row(manager: ManagerHarness, kernel_id: uuid.UUID | str) -> Kernel:
    async with manager.ctx.db() as db:
        return await db.get_one(Kernel, uuid.UUID(str(kernel_id)), populate_existing=True)


async def count_sessions(manager: ManagerHarness) -> int:
    async with manager.ctx.db() as db:
        return int(await db.scalar(sa.select(sa.func.count()).select_from(Session)) or 0)


async def history(manager: ManagerHarness, session_id: uuid.UUID | str) -> list[tuple[str, str]]:
    async with manager.ctx.db() as db:
        rows = await db.execute(
            sa.select(SessionStatusChange.status, SessionStatusChange.reason)
            .where(SessionStatusChange.session_id == uuid.UUID(str(session_id)))
            .order_by(SessionStatusChange.id)
        )
        return [(status.value, reason or "") for status, reason in rows]


async def wait_status(
    manager: ManagerHarness, session_id: uuid.UUID | str, status: SessionStatus, within: float = 5
) -> Session:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        s = await session_row(manager, session_id)
        if s.status is status or loop.time() > deadline:
            assert s.status is status, f"{s.status} ({s.status_info}), expected {status}"
            return s
        await asyncio.sleep(0.02)


async def eventually(check: Any, within: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "the condition did not become true in time"
        await asyncio.sleep(0.02)
