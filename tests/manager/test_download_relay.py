"""A download passes from the agent through the manager chunk by chunk, and a broken one stays
broken: the client never gets a short archive that looks whole."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from backendai.common.problems import problem_middleware
from backendai.common.streaming import abort_response
from backendai.manager.agent_client import AgentClient
from backendai.manager.api.relay import relay

KERNEL = uuid.uuid4()
BODY = b"--b\r\nContent-Type: application/x-tar\r\n\r\n" + b"x" * 100_000 + b"\r\n--b--\r\n"


@dataclass
class StubAgent:
    """Answers a download in two halves; the second only once ``go`` is set."""

    mode: str = "whole"
    go: asyncio.Event = field(default_factory=asyncio.Event)

    async def download(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "refused":
            raise web.HTTPBadRequest(
                text='{"title": "x", "msg": "The file is not found."}',
                content_type="application/problem+json",
            )
        response = web.StreamResponse(headers={"Content-Type": "multipart/mixed; boundary=b"})
        await response.prepare(request)
        await response.write(BODY[:50_000])
        await self.go.wait()
        if self.mode == "broken":
            abort_response(request)
            raise ConnectionResetError("the archive failed half-way")
        await response.write(BODY[50_000:])
        await response.write_eof()
        return response


@pytest.fixture
async def stub() -> AsyncIterator[tuple[StubAgent, TestClient[web.Request, web.Application]]]:
    agent = StubAgent()
    agent_app = web.Application()
    agent_app.router.add_post("/v1/kernels/{kid}/download", agent.download)
    async with TestServer(agent_app) as agent_server:
        addr = str(agent_server.make_url("")).rstrip("/")
        agents = AgentClient("token-0123456789abcdef", timeout=30)

        async def download(request: web.Request) -> web.StreamResponse:
            async with agents.download(addr, KERNEL, ["x"]) as relayed:
                return await relay(request, relayed)

        manager_app = web.Application(middlewares=[problem_middleware])
        manager_app.router.add_get("/download", download)
        async with TestClient(TestServer(manager_app)) as client:
            yield agent, client
        await agents.close()


async def test_chunks_reach_the_client_before_the_agent_has_finished(
    stub: tuple[StubAgent, TestClient[web.Request, web.Application]],
) -> None:
    agent, client = stub
    resp = await client.get("/download")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "multipart/mixed; boundary=b"
    first = await asyncio.wait_for(resp.content.readexactly(50_000), 5)
    assert first == BODY[:50_000]  # relayed while the agent still holds the rest back
    agent.go.set()
    assert first + await resp.read() == BODY


async def test_a_stream_broken_at_the_agent_is_broken_for_the_client(
    stub: tuple[StubAgent, TestClient[web.Request, web.Application]],
) -> None:
    agent, client = stub
    agent.mode = "broken"
    agent.go.set()
    resp = await client.get("/download")
    assert resp.status == 200  # the headers were sent before the failure
    with pytest.raises(aiohttp.ClientPayloadError):
        await asyncio.wait_for(resp.read(), 10)


async def test_a_refusal_comes_before_anything_is_sent(
    stub: tuple[StubAgent, TestClient[web.Request, web.Application]],
) -> None:
    agent, client = stub
    agent.mode = "refused"
    resp = await client.get("/download")
    assert resp.status == 400
    assert (await resp.json())["msg"] == "The file is not found."
