"""A kernel's apps through the agent API, against a fake runner: a unix socket server that
speaks the runner's app ops and hands over connections to local TCP servers (the "apps") as
descriptors, as the real runner does from inside a container."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from backendai.agent.kernels import KernelRegistry
from backendai.agent.layout import LABEL_AGENT_PORTS
from backendai.agent.runner_link import open_app_socket
from backendai.agent.server import CONTEXT_KEY
from backendai.agent.spec import build_pool_spec, build_spec, parse_service_ports
from backendai.common.agent_protocol import KernelCreateRequest
from backendai.common.app_protocol import (
    AGENT_APP_START,
    AGENT_APP_STOP,
    AGENT_APP_TUNNEL,
    AGENT_APPS,
    MAX_APP_ENVS,
    MAX_APP_VALUE_LENGTH,
    TICKET_QUERY,
    make_tunnel_ticket,
)
from backendai.common.errors import AppStartFailed
from tests.agent.conftest import HEADERS, TOKEN, Agent, create_body, make_settings

MiB = 2**20
AppHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class FakeRunner:
    """Answers the app ops; ``apps`` maps a container port to a local TCP port to connect."""

    path: Path
    apps: dict[int, int] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> status, message
    pass_fd: int | None = None  # a descriptor to pass instead of a connection
    received: list[dict[str, Any]] = field(default_factory=list)

    def start(self) -> None:
        temporary = self.path.with_name("fake.sock")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(temporary))
        self.server.listen(16)
        os.rename(temporary, self.path)  # over the real runner's socket
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b'{"op": "hello", "protocol": 1}\n')
            for line in lines:
                message = json.loads(line)
                self.received.append(message)
                if message["op"] == "connect":
                    return self._connect(conn, message["port"])
                conn.sendall(json.dumps(self._answer(message)).encode() + b"\n")

    def _answer(self, message: dict[str, Any]) -> dict[str, Any]:
        op, name = message["op"], message.get("name", "")
        if op == "describe-services":
            return {"op": "services", "services": self.services}
        if name in self.fail:
            status, text = self.fail[name]
            return {"op": "service-failed", "status": status, "message": text}
        if op == "start-service":
            running = self.services.setdefault(name, {}).get("running", False)
            self.services[name]["running"] = True
            return {"op": "service-started", "started": not running, "port": message["ports"][0]}
        stopped = self.services.get(name, {}).pop("running", False)
        return {"op": "service-stopped", "stopped": stopped}

    def _connect(self, conn: socket.socket, port: int) -> None:
        if self.pass_fd is not None:
            socket.send_fds(conn, [b'{"op": "connected"}\n'], [self.pass_fd])
        elif port not in self.apps:
            conn.sendall(b'{"op": "connect-failed", "message": "Connection refused"}\n')
        else:
            with socket.create_connection(("127.0.0.1", self.apps[port])) as app:
                socket.send_fds(conn, [b'{"op": "connected"}\n'], [app.fileno()])


@dataclass
class Setup:
    agent: Agent
    kernel_id: str
    runner: FakeRunner

    def url(self, route: str, app: str = "ttyd") -> str:
        return route.format(kernel_id=self.kernel_id, app=app)

    async def serve_app(self, handler: AppHandler, port: int = 7681) -> None:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        self.runner.apps[port] = server.sockets[0].getsockname()[1]


def registry_of(agent: Agent) -> KernelRegistry:
    app = agent.client.app
    assert app is not None
    registry: KernelRegistry = app[CONTEXT_KEY].registry
    return registry


@pytest.fixture
async def setup(agent: Agent) -> AsyncIterator[Setup]:
    kernel_id = (await agent.create())["kernel_id"]
    runner = FakeRunner(registry_of(agent).get(uuid.UUID(kernel_id)).paths.socket)
    runner.start()
    yield Setup(agent, kernel_id, runner)
    runner.stop()


async def problem(resp: aiohttp.ClientResponse) -> tuple[int, str, str]:
    body = await resp.json()
    return resp.status, body["type"].rsplit("/", 1)[-1], body.get("msg", "")


async def tunnel_refusal(
    s: Setup, params: dict[str, str], app: str = "ttyd"
) -> tuple[int, str, str]:
    """What a WebSocket upgrade of the tunnel is answered with when refused."""
    upgrade = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }
    headers = upgrade | (HEADERS if TICKET_QUERY not in params else {})
    resp = await s.agent.client.get(s.url(AGENT_APP_TUNNEL, app), params=params, headers=headers)
    return await problem(resp)


def starts(runner: FakeRunner) -> list[dict[str, Any]]:
    return [m for m in runner.received if m["op"] == "start-service"]


# --- list, start, stop ---------------------------------------------------------------------


async def test_list_merges_the_label_with_the_runner(setup: Setup) -> None:
    setup.runner.services["ttyd"] = {
        "allowed_arguments": {"--opt": "str"}, "allowed_envs": ["TERM"],
        "url_template": "http://{host}:{port}/", "running": True, "ignored": 1,
    }  # fmt: skip
    resp = await setup.agent.client.get(setup.url(AGENT_APPS), headers=HEADERS)
    assert resp.status == 200
    ttyd, sshd = await resp.json()
    assert ttyd == {
        "name": "ttyd", "protocol": "http", "ports": [7681],
        "url_template": "http://{host}:{port}/", "allowed_arguments": {"--opt": "str"},
        "allowed_envs": ["TERM"], "running": True,
    }  # fmt: skip
    # Not described by the runner: what the image label says.
    assert sshd == {
        "name": "sshd", "protocol": "tcp", "ports": [2200], "url_template": None,
        "allowed_arguments": None, "allowed_envs": None, "running": False,
    }  # fmt: skip
    assert setup.runner.received == [{"op": "describe-services", "names": ["ttyd", "sshd"]}]


async def test_start_then_stop(setup: Setup) -> None:
    body = {"arguments": {"--flag": None, "-x": ["1", "2"]}, "envs": {"TERM": "xterm"}}
    client = setup.agent.client
    resp = await client.post(setup.url(AGENT_APP_START), json=body, headers=HEADERS)
    assert resp.status == 200 and await resp.json() == {
        "name": "ttyd",
        "port": 7681,
        "started": True,
    }
    assert starts(setup.runner) == [
        {"op": "start-service", "name": "ttyd", "protocol": "http", "ports": [7681]} | body
    ]
    resp = await client.post(setup.url(AGENT_APP_START), json={}, headers=HEADERS)
    assert (await resp.json())["started"] is False  # it ran already
    for stopped in (True, False):
        resp = await client.post(setup.url(AGENT_APP_STOP), json={}, headers=HEADERS)
        assert await resp.json() == {"name": "ttyd", "stopped": stopped}


@pytest.mark.parametrize(
    ("status", "code"),
    [(502, "app-start-failed"), (400, "invalid-api-params"), (404, "app-not-found")],
)
async def test_a_failed_start_says_why(setup: Setup, status: int, code: str) -> None:
    setup.runner.fail["ttyd"] = (status, "ttyd exited with 1; its log ends with:\nbad option")
    resp = await setup.agent.client.post(setup.url(AGENT_APP_START), json={}, headers=HEADERS)
    assert await problem(resp) == (status, code, setup.runner.fail["ttyd"][1])
    # The tunnel answers the same, before the upgrade.
    assert await tunnel_refusal(setup, {}) == (status, code, setup.runner.fail["ttyd"][1])


async def test_unknown_apps_and_kernels(setup: Setup) -> None:
    client = setup.agent.client
    for route in (AGENT_APP_START, AGENT_APP_STOP):
        resp = await client.post(setup.url(route, "nope"), json={}, headers=HEADERS)
        assert (await problem(resp))[:2] == (404, "app-not-found")
    assert (await tunnel_refusal(setup, {}, "nope"))[:2] == (404, "app-not-found")
    assert setup.runner.received == []  # refused by the agent, from the label alone
    other = AGENT_APPS.format(kernel_id=uuid.uuid4())
    assert (await problem(await client.get(other, headers=HEADERS)))[:2] == (
        404, "kernel-not-found",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"arguments": "{not json"}, "'arguments' is not JSON"),
        ({"envs": '["TERM"]'}, "envs: Input should be a valid dictionary"),
        ({"arguments": '{"--x": 5}'}, "arguments.--x"),
        ({"envs": json.dumps({f"V{i}": "" for i in range(MAX_APP_ENVS + 1)})}, "At most 64"),
        ({"envs": json.dumps({"V": "x" * (MAX_APP_VALUE_LENGTH + 1)})}, "longer than 4096"),
        ({"arguments": json.dumps({"--x": "a\0b"})}, "NUL"),
    ],
)
async def test_bad_tunnel_queries(setup: Setup, params: dict[str, str], says: str) -> None:
    status, code, msg = await tunnel_refusal(setup, params)
    assert (status, code) == (400, "invalid-api-params") and says in msg, msg
    assert starts(setup.runner) == []


async def test_start_bodies_are_bounded_too(setup: Setup) -> None:
    body = {"arguments": {"--x": ["v"] * 65}}
    resp = await setup.agent.client.post(setup.url(AGENT_APP_START), json=body, headers=HEADERS)
    assert (await problem(resp))[:2] == (400, "invalid-api-params")
    assert starts(setup.runner) == []


# --- the tunnel ----------------------------------------------------------------------------


async def test_the_tunnel_relays_megabytes_both_ways(setup: Setup) -> None:
    up, down = os.urandom(5 * MiB + 123), os.urandom(3 * MiB + 7)

    async def app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def send() -> None:  # at the same time as it reads: both directions are busy
            for i in range(0, len(down), 100_000):
                writer.write(down[i : i + 100_000])
                await writer.drain()

        sending = asyncio.create_task(send())
        got = await reader.readexactly(len(up))
        await sending
        writer.write(hashlib.sha256(got).digest())
        await writer.drain()
        writer.close()

    await setup.serve_app(app)
    received = bytearray()
    async with setup.agent.client.ws_connect(setup.url(AGENT_APP_TUNNEL), headers=HEADERS) as ws:

        async def send() -> None:
            for i in range(0, len(up), 64 * 1024):
                await ws.send_bytes(up[i : i + 64 * 1024])

        sending = asyncio.create_task(send())
        async for msg in ws:
            assert msg.type is aiohttp.WSMsgType.BINARY
            assert len(msg.data) <= 256 * 1024
            received += msg.data
        await sending
        assert ws.close_code == 1000
    assert hashlib.sha256(received[: len(down)]).digest() == hashlib.sha256(down).digest()
    assert bytes(received[len(down) :]) == hashlib.sha256(up).digest()


async def test_the_app_closing_its_end_closes_the_tunnel_with_1000(setup: Setup) -> None:
    async def app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(b"bye " + line)
        await writer.drain()
        writer.write_eof()  # a half-close: the app is done talking
        await reader.read()

    await setup.serve_app(app)
    async with setup.agent.client.ws_connect(setup.url(AGENT_APP_TUNNEL), headers=HEADERS) as ws:
        await ws.send_bytes(b"alice\n")
        assert (await ws.receive()).data == b"bye alice\n"
        assert (await ws.receive()).type is aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1000


async def test_closing_the_websocket_closes_the_app_connection(setup: Setup) -> None:
    ended: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ended.set_result(await reader.read())  # until EOF
        writer.close()

    await setup.serve_app(app)
    async with setup.agent.client.ws_connect(setup.url(AGENT_APP_TUNNEL), headers=HEADERS) as ws:
        await ws.send_bytes(b"last words")
    assert await asyncio.wait_for(ended, 10) == b"last words"


async def test_a_slow_reader_holds_the_app_back(setup: Setup) -> None:
    """Backpressure: while nobody reads the WebSocket, the agent stops reading the app."""
    total, written = 256 * MiB, [0]
    chunk = os.urandom(MiB)

    async def app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while written[0] < total:
            writer.write(chunk)
            await writer.drain()
            written[0] += len(chunk)
        writer.close()

    await setup.serve_app(app)
    async with setup.agent.client.ws_connect(setup.url(AGENT_APP_TUNNEL), headers=HEADERS) as ws:
        last = -1
        while last != written[0]:  # until the app's writes stall
            last = written[0]
            await asyncio.sleep(0.3)
        assert written[0] < 64 * MiB  # socket buffers and a chunk, not the whole stream
        got = 0
        async for msg in ws:
            got += len(msg.data)
        assert got == total and ws.close_code == 1000


async def test_connect_failures_come_before_the_upgrade(setup: Setup) -> None:
    status, code, msg = await tunnel_refusal(setup, {})  # no app listens on 7681
    assert (status, code) == (502, "app-start-failed") and "Connection refused" in msg


@pytest.mark.parametrize("kind", ["pipe", "unix"])
async def test_only_a_tcp_socket_is_taken_from_the_runner(setup: Setup, kind: str) -> None:
    """What a user runs as the runner could pass a pipe or another socket: never relayed."""
    ours, other = os.pipe() if kind == "pipe" else (s.detach() for s in socket.socketpair())
    setup.runner.pass_fd = ours
    status, code, msg = await tunnel_refusal(setup, {})
    assert (status, code) == (500, "kernel-not-ready"), msg
    assert ("not a socket" if kind == "pipe" else "not a TCP connection") in msg
    os.close(ours)  # the agent closed the copy it received: the other end is alone now
    if kind == "pipe":
        with pytest.raises(BrokenPipeError):
            os.write(other, b"x")
        os.close(other)
    else:
        with socket.socket(fileno=other) as peer:
            peer.settimeout(5)
            assert peer.recv(1) == b""


async def test_open_app_socket_refuses_symlinks_and_takes_long_paths(
    setup: Setup, short_dir: Path
) -> None:
    link = short_dir / "link.sock"
    link.symlink_to(setup.runner.path)
    with pytest.raises(OSError, match="not a socket"):
        await open_app_socket(link, 7681, 5)
    deep = short_dir / ("d" * 100)
    deep.mkdir()
    long_path = deep / "runner.sock"
    os.link(setup.runner.path, long_path)  # the same socket, under a path too long for sun_path
    assert len(os.fsencode(long_path)) > 108
    with pytest.raises(AppStartFailed, match="Connection refused"):
        await open_app_socket(long_path, 9999, 5)  # the runner was reached and answered


# --- tickets -------------------------------------------------------------------------------


async def test_a_ticket_opens_its_tunnel_and_nothing_else(setup: Setup) -> None:
    async def app(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello")
        await writer.drain()
        writer.close()

    await setup.serve_app(app)
    kernel_id = uuid.UUID(setup.kernel_id)
    ticket = make_tunnel_ticket(TOKEN, kernel_id, "ttyd")
    client = setup.agent.client
    url = setup.url(AGENT_APP_TUNNEL)
    async with client.ws_connect(url, params={TICKET_QUERY: ticket}) as ws:
        assert (await ws.receive()).data == b"hello"
    for bad in (
        make_tunnel_ticket(TOKEN, uuid.uuid4(), "ttyd"),  # another kernel's
        make_tunnel_ticket(TOKEN, kernel_id, "sshd"),  # another app's
        make_tunnel_ticket(TOKEN, kernel_id, "ttyd", ttl=-60),  # expired
        make_tunnel_ticket("another-agent-token-000000", kernel_id, "ttyd"),
        "not-a-ticket",
    ):
        assert (await tunnel_refusal(setup, {TICKET_QUERY: bad}))[:2] == (401, "auth-failed")
    sshd_ticket = make_tunnel_ticket(TOKEN, kernel_id, "sshd")
    sshd = await tunnel_refusal(setup, {TICKET_QUERY: sshd_ticket}, "sshd")
    assert sshd[:2] == (502, "app-start-failed")  # accepted: refused only by the fake runner
    for method, route in [
        ("GET", setup.url(AGENT_APPS)),
        ("POST", setup.url(AGENT_APP_START)),
        ("POST", setup.url(AGENT_APP_STOP)),
        ("GET", "/v1/kernels"),
        ("DELETE", f"/v1/kernels/{kernel_id}"),
    ]:
        resp = await client.request(method, route, params={TICKET_QUERY: ticket})
        assert (await problem(resp))[:2] == (401, "auth-failed")
    assert kernel_id in registry_of(setup.agent).kernels


# --- no published ports --------------------------------------------------------------------


def test_no_container_publishes_a_port(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    ports = parse_service_ports("ttyd:http:7681,sshd:tcp:2200", [8080])
    req = KernelCreateRequest.model_validate(create_body())
    spec = build_spec(settings, req, [], [0], ports)
    pool_spec = build_pool_spec(settings, req.image, uuid.uuid4(), [], [0], ports)
    assert spec.ports == [] and pool_spec.ports == []
    recorded = json.loads(spec.labels[LABEL_AGENT_PORTS])
    assert [(p["name"], p["container_ports"], p["host_ports"]) for p in recorded] == [
        ("ttyd", [7681], []), ("sshd", [2200], []), ("preopen-8080", [8080], []),
    ]  # fmt: skip
