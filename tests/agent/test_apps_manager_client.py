"""The manager's agent client (``manager/agent_client.py``) against the real agent's app routes
(with a fake runner): the manager's tests drive a fake agent, and this keeps the two speaking
one language, refusals included."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from backendai.common.app_protocol import AppStartRequest
from backendai.common.errors import AppNotFound, AppStartFailed, InvalidRequest
from backendai.manager.agent_client import AgentClient
from tests.agent.conftest import TOKEN
from tests.agent.test_apps import Setup, setup  # noqa: F401  (the fixture)


@pytest.fixture
async def client() -> AsyncIterator[AgentClient]:
    c = AgentClient(TOKEN, timeout=30)
    yield c
    await c.close()


def addr(s: Setup) -> str:
    return str(s.agent.client.make_url("")).rstrip("/")


async def test_list_start_stop(setup: Setup, client: AgentClient) -> None:  # noqa: F811
    kid = uuid.UUID(setup.kernel_id)
    apps = {a.name: a for a in await client.list_apps(addr(setup), kid)}
    assert {"ttyd", "sshd"} <= set(apps) and apps["sshd"].protocol == "tcp"
    started = await client.start_app(addr(setup), kid, "ttyd", AppStartRequest())
    assert started.name == "ttyd" and started.port == 7681 and started.started
    assert not (await client.start_app(addr(setup), kid, "ttyd", AppStartRequest())).started
    assert (await client.stop_app(addr(setup), kid, "ttyd")).stopped


@pytest.mark.parametrize(
    ("status", "error"),
    [(502, AppStartFailed), (404, AppNotFound), (400, InvalidRequest)],
)
async def test_refusals_keep_the_agents_message(
    setup: Setup,  # noqa: F811
    client: AgentClient,
    status: int,
    error: type[Exception],
) -> None:
    kid = uuid.UUID(setup.kernel_id)
    log = "jupyter exited (code 1); its log ends with:\nError: port 8080 is taken"
    setup.runner.fail["ttyd"] = (status, log)
    with pytest.raises(error, match="port 8080 is taken"):
        await client.start_app(addr(setup), kid, "ttyd", AppStartRequest())
    if status != 400:  # the tunnel refuses before the upgrade, with the same message
        with pytest.raises(error, match="port 8080 is taken"):
            await client.connect_app_tunnel(addr(setup), kid, "ttyd", AppStartRequest())


async def test_the_tunnel_relays(setup: Setup, client: AgentClient) -> None:  # noqa: F811
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"echo:" + await reader.readexactly(4))
        await writer.drain()
        writer.close()

    await setup.serve_app(echo)
    kid = uuid.UUID(setup.kernel_id)
    ws = await client.connect_app_tunnel(addr(setup), kid, "ttyd", AppStartRequest())
    try:
        await ws.send_bytes(b"ping")
        assert await ws.receive_bytes() == b"echo:ping"
        await ws.receive()  # the app closed its end: the tunnel closes
        assert ws.close_code == 1000
    finally:
        await ws.close()
