"""Apps of a kernel on the real Docker Engine, with the real runner inside the container: the
tunnel reaches ttyd and sshd although the container publishes no port at all."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.main import create_app
from backendai.agent.settings import AgentSettings
from backendai.common.app_protocol import (
    AGENT_APP_STOP,
    AGENT_APP_TUNNEL,
    AGENT_APPS,
    TICKET_QUERY,
    make_tunnel_ticket,
)
from tests.agent.conftest import HEADERS, IMAGE, TOKEN, make_settings
from tests.agent.test_docker import DockerAgent, remove_containers

pytestmark = [pytest.mark.slow, pytest.mark.docker]


@pytest.fixture
async def docker_agent(short_dir: Path) -> AsyncIterator[DockerAgent]:
    try:
        async with aiodocker.Docker() as docker:
            await docker.images.inspect(IMAGE)
    except Exception as e:
        pytest.fail(f"Docker with the image {IMAGE} is needed (scripts/setup.sh): {e}")
    agent_id = f"test-{uuid.uuid4().hex[:12]}"
    settings: AgentSettings = make_settings(
        short_dir, id=agent_id, backend="docker", cpu=None, mem=None
    )
    try:
        async with TestClient(TestServer(create_app(settings))) as client:
            yield DockerAgent(client, settings)
    finally:
        await remove_containers(agent_id)


async def http_get(ws: aiohttp.ClientWebSocketResponse, path: str = "/") -> bytes:
    """One HTTP/1.1 exchange through the tunnel; the app closes, so the tunnel closes."""
    await ws.send_bytes(
        f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
    )
    response = bytearray()
    async for msg in ws:
        assert msg.type is aiohttp.WSMsgType.BINARY
        response += msg.data
    assert ws.close_code == 1000
    return bytes(response)


async def test_ttyd_through_the_tunnel(docker_agent: DockerAgent) -> None:
    created = await docker_agent.create()
    kernel_id = created["kernel_id"]
    async with aiodocker.Docker() as docker:
        shown = await (await docker.containers.get(created["container_id"])).show()
    assert not shown["HostConfig"]["PortBindings"] and not shown["NetworkSettings"]["Ports"]
    client = docker_agent.client
    tunnel = AGENT_APP_TUNNEL.format(kernel_id=kernel_id, app="ttyd")
    async with client.ws_connect(tunnel, headers=HEADERS) as ws:
        response = await http_get(ws)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"<html" in body.lower() or b"<!doctype html" in body.lower(), body[:200]
    resp = await client.get(AGENT_APPS.format(kernel_id=kernel_id), headers=HEADERS)
    apps = {a["name"]: a for a in await resp.json()}
    assert apps["ttyd"]["running"] is True and apps["sshd"]["running"] is False
    # As an app proxy opens it: a ticket instead of the agent token; the app runs already.
    ticket = make_tunnel_ticket(TOKEN, uuid.UUID(kernel_id), "ttyd")
    async with client.ws_connect(tunnel, params={TICKET_QUERY: ticket}) as ws:
        assert (await http_get(ws)).startswith(b"HTTP/1.1 200")
    stop = AGENT_APP_STOP.format(kernel_id=kernel_id, app="ttyd")
    resp = await client.post(stop, json={}, headers=HEADERS)
    assert await resp.json() == {"name": "ttyd", "stopped": True}


async def test_sshd_speaks_first_through_the_tunnel(docker_agent: DockerAgent) -> None:
    kernel_id = (await docker_agent.create())["kernel_id"]
    tunnel = AGENT_APP_TUNNEL.format(kernel_id=kernel_id, app="sshd")
    async with docker_agent.client.ws_connect(tunnel, headers=HEADERS) as ws:
        banner = await ws.receive_bytes(timeout=30)
    assert banner.startswith(b"SSH-2.0-"), banner
