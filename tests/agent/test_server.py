"""The agent API on the fake backend (which runs the real runner on the host)."""

from __future__ import annotations

import asyncio
import io
import tarfile
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.backends.fake import FailingBackend, FakeBackend, SlowBackend
from backendai.agent.main import create_app
from backendai.common.agent_protocol import AGENT_TOKEN_HEADER
from tests.agent.conftest import HEADERS, Agent, console, create_body, make_settings


async def problem(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    assert resp.content_type == "application/problem+json"
    return dict(await resp.json())


@pytest.mark.parametrize("token", [None, "wrong-token-wrong-token"])
async def test_every_route_needs_the_token(agent: Agent, token: str | None) -> None:
    headers = {} if token is None else {AGENT_TOKEN_HEADER: token}
    for method, url in [
        ("GET", "/v1/kernels"),
        ("POST", "/v1/kernels"),
        ("DELETE", f"/v1/kernels/{uuid.uuid4()}"),
        ("GET", f"/v1/kernels/{uuid.uuid4()}/logs"),
    ]:
        resp = await agent.client.request(method, url, headers=headers)
        assert resp.status == 401
        assert (await problem(resp))["type"].endswith("/auth-failed")


async def test_create_list_and_destroy(agent: Agent) -> None:
    created = await agent.create()
    assert created["occupied_slots"] == {"cpu": "1", "mem": str(512 * 2**20)}
    ports = {p["name"]: p for p in created["service_ports"]}
    assert ports["ttyd"]["container_ports"] == [7681] and ports["ttyd"]["host_ports"]
    resp = await agent.client.get("/v1/kernels", headers=HEADERS)
    [info] = await resp.json()
    assert info["kernel_id"] == created["kernel_id"] and info["state"] == "running"
    resp = await agent.client.delete(f"/v1/kernels/{created['kernel_id']}", headers=HEADERS)
    result = await resp.json()
    assert resp.status == 200 and result["last_stat"]["mem"]["unit_hint"] == "bytes"
    assert isinstance(result["container_log"], str)
    assert agent.backend.containers == {}
    assert not (agent.settings.data_dir / "kernels" / created["kernel_id"]).exists()


async def test_create_is_idempotent(agent: Agent) -> None:
    kernel_id = uuid.uuid4()
    first = await agent.create(kernel_id=kernel_id)
    second = await agent.create(kernel_id=kernel_id)
    assert first["container_id"] == second["container_id"]
    assert len(agent.backend.containers) == 1


async def test_concurrent_creates_make_one_container(short_dir: Path) -> None:
    backend = SlowBackend(delay=0.2)
    app = create_app(make_settings(short_dir), backend)
    async with TestClient(TestServer(app)) as client:
        body = create_body()
        responses = await asyncio.gather(
            *(client.post("/v1/kernels", json=body, headers=HEADERS) for _ in range(3))
        )
        ids = {(await r.json())["container_id"] for r in responses}
        assert [r.status for r in responses] == [200] * 3 and len(ids) == 1
    assert len(backend.containers) == 1
    await backend.close()


async def test_destroy_is_idempotent(agent: Agent) -> None:
    created = await agent.create()
    for _ in range(2):
        resp = await agent.client.delete(f"/v1/kernels/{created['kernel_id']}", headers=HEADERS)
        assert resp.status == 200
    resp = await agent.client.delete(f"/v1/kernels/{uuid.uuid4()}", headers=HEADERS)
    assert resp.status == 200 and (await resp.json())["last_stat"] is None


async def test_unknown_image(agent: Agent) -> None:
    resp = await agent.client.post("/v1/kernels", json=create_body(image="nope:1"), headers=HEADERS)
    assert resp.status == 404
    assert (await problem(resp))["type"].endswith("/image-not-found")


async def test_bad_request_body(agent: Agent) -> None:
    resp = await agent.client.post("/v1/kernels", json={"image": "x"}, headers=HEADERS)
    assert resp.status == 400
    assert "kernel_id" in (await problem(resp))["msg"]


async def test_unknown_kernel(agent: Agent) -> None:
    for url in [f"/v1/kernels/{uuid.uuid4()}/logs", f"/v1/kernels/{uuid.uuid4()}/execute"]:
        resp = await agent.client.get(url, headers=HEADERS)
        assert resp.status == 404
        assert (await problem(resp))["type"].endswith("/kernel-not-found")
    resp = await agent.client.get("/v1/kernels/not-a-uuid/logs", headers=HEADERS)
    assert resp.status == 400


async def test_failed_start_leaves_nothing_behind(short_dir: Path) -> None:
    backend = FailingBackend(fail_on={"start"})
    app = create_app(make_settings(short_dir), backend)
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/v1/kernels", json=create_body(), headers=HEADERS)
        assert resp.status == 500
        resp = await client.get("/v1/kernels", headers=HEADERS)
        assert await resp.json() == []
    assert backend.containers == {}
    assert list((short_dir / "kernels").iterdir()) == []


async def test_execute_query_keeps_state(agent: Agent) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    await agent.execute(kernel_id, "x = 41")
    frames = await agent.execute(kernel_id, "print(x + 1)")
    assert frames[-1] == {
        "status": "finished",
        "console": [["stdout", "42\n"]],
        "exitCode": 0,
        "options": {},
        "files": [],
    }


async def test_execute_input_and_errors(agent: Agent) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    frames = await agent.execute(kernel_id, "print(input('? ') * 2)", inputs=["ab"])
    assert frames[0]["status"] == "waiting-input" and console(frames[1:]) == "abab\n"
    frames = await agent.execute(kernel_id, "raise ValueError('boom')")
    assert frames[-1]["exitCode"] == 1 and "ValueError: boom" in console(frames, "stderr")


async def test_execute_interrupt_frame(agent: Agent) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    url = f"/v1/kernels/{kernel_id}/execute"
    async with agent.client.ws_connect(url, headers=HEADERS) as ws:
        await ws.send_json({"code": "import time; time.sleep(30)", "mode": "query", "options": {}})
        await asyncio.sleep(0.3)
        await ws.send_json({"interrupt": True})
        frame = await asyncio.wait_for(ws.receive_json(), 5)
        assert frame["status"] == "finished" and frame["exitCode"] == 1
        closing = await ws.receive()
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_execute_batch(agent: Agent) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    form = aiohttp.FormData()
    form.add_field("src", b"print('this is my code')\n", filename="main.py")
    await agent.client.post(f"/v1/kernels/{kernel_id}/upload", data=form, headers=HEADERS)
    options = {"clean": "*", "build": "*", "buildLog": False, "exec": "*"}
    frames = await agent.execute(kernel_id, mode="batch", options=options)
    assert [f["status"] for f in frames] == ["clean-finished", "build-finished", "finished"]
    assert console(frames[-1:]) == "this is my code\n"


async def test_execute_rejects_unknown_modes(agent: Agent) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    frames = await agent.execute(kernel_id, "1", mode="complete")
    assert frames[-1]["exitCode"] == 1 and "Unsupported" in console(frames, "stderr")


async def test_execute_reports_a_container_that_died(agent: Agent) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    [container_id] = agent.backend.containers
    url = f"/v1/kernels/{kernel_id}/execute"
    async with agent.client.ws_connect(url, headers=HEADERS) as ws:
        await ws.send_json({"code": "import time; time.sleep(30)", "mode": "query"})
        await asyncio.sleep(0.3)
        agent.backend.crash(container_id, 137, oom=True)
        frame = await asyncio.wait_for(ws.receive_json(), 5)
    assert frame["status"] == "finished" and frame["exitCode"] == 137
    assert "out of memory" in console([frame], "stderr")


async def test_upload_download_and_list(agent: Agent) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    form = aiohttp.FormData()
    form.add_field("src", b"0123456789", filename="reuse.txt")
    form.add_field("src", b"nested", filename="sub/dir/n.txt")
    resp = await agent.client.post(f"/v1/kernels/{kernel_id}/upload", data=form, headers=HEADERS)
    assert resp.status == 204
    resp = await agent.client.post(
        f"/v1/kernels/{kernel_id}/files", json={"path": "."}, headers=HEADERS
    )
    listing = await resp.json()
    assert listing["abspath"] == "/home/work" and listing["errors"] == ""
    assert {f["filename"]: f["size"] for f in listing["files"]}["reuse.txt"] == 10
    resp = await agent.client.post(
        f"/v1/kernels/{kernel_id}/download", json={"files": ["reuse.txt", "sub"]}, headers=HEADERS
    )
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "multipart/mixed"
    reader = aiohttp.MultipartReader.from_response(resp)
    archives = []
    while (part := await reader.next()) is not None:
        assert isinstance(part, aiohttp.BodyPartReader)
        assert "Content-Encoding" not in part.headers
        with tarfile.open(fileobj=io.BytesIO(await part.read())) as tar:
            archives.append(tar.getnames())
    assert archives == [["reuse.txt"], ["sub", "sub/dir", "sub/dir/n.txt"]]
    # What was uploaded is what the code sees.
    frames = await agent.execute(kernel_id, "print(open('sub/dir/n.txt').read())")
    assert console(frames) == "nested\n"


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b"])
async def test_upload_refuses_escapes(agent: Agent, name: str) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    form = aiohttp.FormData()
    form.add_field("src", b"x", filename=name)
    resp = await agent.client.post(f"/v1/kernels/{kernel_id}/upload", data=form, headers=HEADERS)
    assert resp.status == 400
    assert (await problem(resp))["type"].endswith("/invalid-api-params")
    assert not (agent.settings.data_dir / "kernels" / "escape.txt").exists()


async def test_download_missing_file(agent: Agent) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    resp = await agent.client.post(
        f"/v1/kernels/{kernel_id}/download", json={"files": ["nope"]}, headers=HEADERS
    )
    assert resp.status == 400 and (await problem(resp))["msg"] == "The file is not found."


async def test_logs(agent: Agent) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    await agent.execute(kernel_id, "print('to the log')")
    resp = await agent.client.get(f"/v1/kernels/{kernel_id}/logs", headers=HEADERS)
    assert resp.status == 200 and "to the log" in await resp.text()


async def test_restart_keeps_files_and_resets_the_interpreter(agent: Agent) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    await agent.execute(kernel_id, "x = 1\nopen('kept.txt', 'w').write('kept')")
    resp = await agent.client.post(f"/v1/kernels/{kernel_id}/restart", headers=HEADERS)
    assert resp.status == 200
    frames = await agent.execute(kernel_id, "print(open('kept.txt').read()); print(x)")
    assert console(frames) == "kept\n" and "NameError" in console(frames, "stderr")


async def test_readoption_after_an_agent_restart(short_dir: Path) -> None:
    backend = FakeBackend()
    settings = make_settings(short_dir)
    async with TestClient(TestServer(create_app(settings, backend))) as client:
        resp = await client.post("/v1/kernels", json=create_body(), headers=HEADERS)
        created = await resp.json()
        kernel_url = f"/v1/kernels/{created['kernel_id']}"
        async with client.ws_connect(kernel_url + "/execute", headers=HEADERS) as ws:
            await ws.send_json({"code": "state = 'survives'", "mode": "query"})
            await ws.receive_json()
    # A new agent process: same engine, same data dir, nothing else.
    async with TestClient(TestServer(create_app(settings, backend))) as client:
        async with client.ws_connect(kernel_url + "/execute", headers=HEADERS) as ws:
            await ws.send_json({"code": "print(state)", "mode": "query"})
            frame = await ws.receive_json()
        assert console([frame]) == "survives\n"
        resp = await client.post(
            "/v1/kernels", json=create_body(kernel_id=created["kernel_id"]), headers=HEADERS
        )
        assert (await resp.json())["container_id"] == created["container_id"]
        resp = await client.delete(kernel_url, headers=HEADERS)
        assert resp.status == 200
    assert backend.containers == {}
    await backend.close()


async def test_upload_with_the_official_clients_filename_star(agent: Agent) -> None:
    """aiohttp 3.7 (the 20.9.9 client) sends both forms; filename* is the decoded name."""
    kernel_id = (await agent.create())["kernel_id"]
    with aiohttp.MultipartWriter("form-data") as body:
        part = body.append(b"code", {"Content-Type": "application/octet-stream"})
        part.headers["Content-Disposition"] = (
            'form-data; name="src"; filename="pkg%2Fmod.py"; filename*=utf-8\'\'pkg%2Fmod.py'
        )
    resp = await agent.client.post(f"/v1/kernels/{kernel_id}/upload", data=body, headers=HEADERS)
    assert resp.status == 204
    home = agent.settings.data_dir / "kernels" / kernel_id / "home"
    assert (home / "pkg" / "mod.py").read_bytes() == b"code"


async def test_a_symlinked_runner_socket_is_never_talked_to(agent: Agent) -> None:
    """The ipc dir is the container user's: a symlink there must not steer the agent."""
    kernel_id = (await agent.create())["kernel_id"]
    received = bytearray()

    async def bystander(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.extend(await reader.read(1024))
        writer.close()

    other = agent.settings.data_dir / "other.sock"
    server = await asyncio.start_unix_server(bystander, other)
    sock = agent.settings.data_dir / "kernels" / kernel_id / "ipc" / "runner.sock"
    sock.unlink()
    sock.symlink_to(other)
    try:
        resp = await agent.client.get(f"/v1/kernels/{kernel_id}/execute", headers=HEADERS)
        assert resp.status == 500
        assert (await problem(resp))["type"].endswith("/kernel-not-ready")
        assert received == b""
    finally:
        server.close()


async def test_pty_relays_stdin_resize_and_output(agent: Agent) -> None:
    created = await agent.create()
    url = f"/v1/kernels/{created['kernel_id']}/pty"
    ws = await agent.client.ws_connect(url, headers=HEADERS)
    await ws.send_json({"type": "resize", "rows": 30, "cols": 100})
    assert await ws.receive_json() == {"type": "out", "data": "WzMweDEwMF0="}  # "[30x100]"
    await ws.send_json({"type": "stdin", "chars": "bHMK"})  # "ls\n"
    assert await ws.receive_json() == {"type": "out", "data": "bHMK"}
    await ws.close()


async def test_pty_of_an_unknown_kernel_is_404(agent: Agent) -> None:
    resp = await agent.client.get(f"/v1/kernels/{uuid.uuid4()}/pty", headers=HEADERS)
    assert resp.status == 404
