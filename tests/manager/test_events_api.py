"""``GET /events/session``: SSE framing, order, filters, pings and ``server_close``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import create
from tests.manager.fake_agent import FakeAgent


async def _listen(
    platform: ManagerHarness, query: str, as_: str = "demo"
) -> aiohttp.ClientResponse:
    path = f"/events/session?{query}"
    resp = await platform.client.get(path, headers=platform.stream_headers(path, as_))
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/event-stream"
    return resp


async def _read_events(resp: aiohttp.ClientResponse) -> list[tuple[str, Any]]:
    """Every message until the stream ends; comments as ("#", text). Like Backend.AI's
    client, a blank line without fields before it is no message."""
    events: list[tuple[str, Any]] = []
    name, data = "message", None
    async for raw in resp.content:
        line = raw.decode().rstrip("\r\n")
        if line.startswith(":"):
            events.append(("#", line[1:].strip()))
        elif line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data = line.split(":", 1)[1].strip()
        elif line == "" and data is not None:
            events.append((name, json.loads(data)))
            name, data = "message", None
    return events


async def test_lifecycle_events_in_order(platform: ManagerHarness, joined: FakeAgent) -> None:
    resp = await _listen(platform, "sessionName=ev-1&scope=*")  # before the session exists
    reader = asyncio.create_task(_read_events(resp))
    status, body = await create(platform, "ev-1")
    assert status == 201
    await create(platform, "other-1")  # filtered out by name
    assert (await platform.signed("DELETE", "/session/ev-1")).status == 200
    events = [e for e in await asyncio.wait_for(reader, 5) if e[0] != "#"]
    assert [name for name, _ in events] == [
        "session_enqueued", "kernel_enqueued", "session_scheduled", "session_preparing",
        "kernel_preparing", "kernel_started", "session_started", "kernel_terminating",
        "kernel_terminated", "session_terminated", "server_close",
    ]  # fmt: skip
    first = events[0][1]
    assert first == {"reason": "user-requested", "sessionName": "ev-1",
                     "ownerAccessKey": platform.users.demo.access_key,
                     "sessionId": body["sessionId"]}  # fmt: skip
    started = dict(events)["kernel_started"]
    assert started["kernelId"] == body["sessionId"] and started["clusterRole"] == "main"
    assert started["clusterIdx"] == 1


async def test_scope_and_id_filter_and_cancel(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    _, body = await create(platform, "ev-2", enqueueOnly=True)
    resp = await _listen(platform, f"sessionId={body['sessionId']}&scope=session")
    reader = asyncio.create_task(_read_events(resp))
    await asyncio.sleep(0.3)  # a ping or two
    assert (await platform.signed("DELETE", "/session/ev-2")).status == 200
    events = await asyncio.wait_for(reader, 5)
    assert ("#", "ping") in events
    # A scheduling pass may say why it waits (session_pending) before or after the listener
    # joined: that one may or may not be there.
    names = [n for n, _ in events if n not in ("#", "session_pending")]
    assert names == ["session_cancelled", "server_close"]
    for name, data in events:
        if name == "session_pending":
            assert data["reason"], data


async def test_other_users_events_are_invisible(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    resp = await _listen(platform, "sessionName=ev-3", as_="superadmin")
    reader = asyncio.create_task(_read_events(resp))
    _, body = await create(platform, "ev-3", enqueueOnly=True)  # the demo user's
    await platform.signed("DELETE", "/session/ev-3")
    await asyncio.sleep(0.3)
    assert not reader.done()
    reader.cancel()
    resp.close()
    # An admin may follow another keypair's sessions explicitly.
    demo = platform.users.demo.access_key
    resp = await _listen(platform, f"sessionId={body['sessionId']}&owner_access_key={demo}",
                         as_="superadmin")  # fmt: skip
    events = await asyncio.wait_for(_read_events(resp), 5)  # already ended: closes at once
    assert events == [("server_close", {})]
