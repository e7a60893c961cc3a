"""The agent API on the fake backend (which runs the real runner on the host)."""

from __future__ import annotations

import asyncio
import io
import os
import tarfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.archive import TarStream
from backendai.agent.backends.fake import FailingBackend, FakeBackend, SlowBackend
from backendai.agent.file_work import Deadline
from backendai.agent.files import KernelFiles
from backendai.agent.fstree import remove_tree
from backendai.agent.main import create_app
from backendai.agent.server import CONTEXT_KEY
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
    # Reached through the agent's tunnel only: nothing is published on the host.
    assert ports["ttyd"]["container_ports"] == [7681] and ports["ttyd"]["host_ports"] == []
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
    # A phase slower than a time slice (a loaded machine) also sends "continued" frames.
    phases = [f["status"] for f in frames if f["status"] != "continued"]
    assert phases == ["clean-finished", "build-finished", "finished"]
    built = next(i for i, f in enumerate(frames) if f["status"] == "build-finished")
    assert console(frames[built + 1 :]) == "this is my code\n"


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


# --- file operations: non-regular files, limits, isolation between kernels ---


def home_of(agent: Agent, kernel_id: str) -> Path:
    return agent.settings.data_dir / "kernels" / kernel_id / "home"


async def upload_one(agent: Agent, kernel_id: str, name: str, data: bytes = b"x") -> Any:
    form = aiohttp.FormData()
    form.add_field("src", data, filename=name)
    return await agent.client.post(f"/v1/kernels/{kernel_id}/upload", data=form, headers=HEADERS)


async def download(client: TestClient[Any, Any], kernel_id: str, *names: str) -> Any:
    return await client.post(
        f"/v1/kernels/{kernel_id}/download", json={"files": list(names)}, headers=HEADERS
    )


async def test_fifos_are_refused_at_once_and_listed(agent: Agent) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    os.mkfifo(home_of(agent, kernel_id) / "fifo")
    async with asyncio.timeout(5):  # a blocking open of the FIFO would wait for a writer
        resp = await upload_one(agent, kernel_id, "fifo")
        assert resp.status == 400
        assert "FIFO (named pipe) or a socket, not a regular file" in (await problem(resp))["msg"]
        resp = await download(agent.client, kernel_id, "fifo")
        assert resp.status == 400
        msg = (await problem(resp))["msg"]
        assert msg.startswith("/home/work/fifo is a FIFO (named pipe): only regular files")
        resp = await agent.client.post(
            f"/v1/kernels/{kernel_id}/files", json={"path": "."}, headers=HEADERS
        )
        modes = {f["filename"]: f["mode"] for f in (await resp.json())["files"]}
        assert modes["fifo"].startswith("p")


async def test_a_download_over_the_limit_is_refused_before_it_starts(short_dir: Path) -> None:
    backend = FakeBackend()
    app = create_app(make_settings(short_dir, download_max_size=2**20), backend)
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/v1/kernels", json=create_body(), headers=HEADERS)
        kernel_id = (await resp.json())["kernel_id"]
        sparse = short_dir / "kernels" / kernel_id / "home" / "sparse"
        sparse.touch()
        os.truncate(sparse, 2**30)  # 1 GiB that takes no disk
        resp = await download(client, kernel_id, "sparse")
        assert resp.status == 400
        body = await problem(resp)
        assert body["type"].endswith("/download-too-large")
        assert "at least 1.0 GiB" in body["msg"] and "limit of 1.0 MiB" in body["msg"]
    await backend.close()


async def test_a_1100_deep_tree_downloads(agent: Agent) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    home = home_of(agent, kernel_id)
    try:
        path = home.joinpath(*["d"] * 1100)
        fd = os.open(home, os.O_RDONLY)
        for _ in range(1100):  # os.makedirs would pass PATH_MAX
            os.mkdir("d", dir_fd=fd)
            sub = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = sub
        os.close(fd)
        resp = await download(agent.client, kernel_id, "d")
        assert resp.status == 200
        reader = aiohttp.MultipartReader.from_response(resp)
        part = await reader.next()
        assert isinstance(part, aiohttp.BodyPartReader)
        with tarfile.open(fileobj=io.BytesIO(await part.read())) as tar:
            names = tar.getnames()
        assert len(names) == 1100 and names[-1] == "/".join(["d"] * 1100)
        assert len(str(path)) > 2200
    finally:
        remove_tree(home / "d")  # pytest's clean-up would recurse into it and fail


async def test_a_download_that_fails_midway_is_cut_off(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernel_id = (await agent.create())["kernel_id"]
    (home_of(agent, kernel_id) / "big").write_bytes(b"x" * (4 * 2**20))
    real_read = TarStream.read
    reads = []

    def failing_read(self: TarStream, deadline: Deadline) -> bytes:
        reads.append(1)
        if len(reads) == 2:
            raise OSError(5, "Input/output error")
        return real_read(self, deadline)

    monkeypatch.setattr(TarStream, "read", failing_read)
    resp = await download(agent.client, kernel_id, "big")
    assert resp.status == 200  # sent before the failure
    with pytest.raises(aiohttp.ClientPayloadError):
        await asyncio.wait_for(resp.read(), 10)


async def test_a_huge_listing_is_capped_with_a_note(short_dir: Path) -> None:
    backend = FakeBackend()
    app = create_app(make_settings(short_dir, list_max_entries=5), backend)
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/v1/kernels", json=create_body(), headers=HEADERS)
        kernel_id = (await resp.json())["kernel_id"]
        # A folder of its own: the runner may be adding id_container to the home meanwhile.
        big = short_dir / "kernels" / kernel_id / "home" / "big"
        big.mkdir()
        for n in range(20):
            (big / f"n{n:02d}").touch()
        resp = await client.post(
            f"/v1/kernels/{kernel_id}/files", json={"path": "big"}, headers=HEADERS
        )
        listing = await resp.json()
        assert [f["filename"] for f in listing["files"]] == [f"n{n:02d}" for n in range(5)]
        assert listing["errors"] == ""
        assert "has 2" in listing["note"] and "only the first 5 by name" in listing["note"]
    await backend.close()


async def test_one_kernels_stuck_file_work_never_stalls_another(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 stuck operations of one kernel (more than asyncio's default executor has threads
    on any machine) leave another kernel's listing and upload answering at once."""
    gate = threading.Event()
    real_list = KernelFiles.list_dir

    def list_dir(self: KernelFiles, path: str, deadline: Deadline, cap: int) -> Any:
        if path == "stuck":
            gate.wait(20)  # a file operation that hangs (a slow disk, say)
        return real_list(self, ".", deadline, cap)

    monkeypatch.setattr(KernelFiles, "list_dir", list_dir)
    backend = FakeBackend()
    settings = make_settings(short_dir, file_workers=4, file_ops_per_kernel=2, file_op_timeout=10)
    async with TestClient(TestServer(create_app(settings, backend))) as client:
        agent = Agent(client, backend, settings)
        alice = (await agent.create())["kernel_id"]
        bob = (await agent.create())["kernel_id"]

        async def ls(kernel_id: str, path: str) -> int:
            resp = await client.post(
                f"/v1/kernels/{kernel_id}/files", json={"path": path}, headers=HEADERS
            )
            return resp.status

        try:
            stuck = [asyncio.create_task(ls(alice, "stuck")) for _ in range(40)]
            work = client.app[CONTEXT_KEY].file_work
            while work is None or work.in_use(uuid.UUID(alice)) < 2:
                await asyncio.sleep(0.01)
                work = client.app[CONTEXT_KEY].file_work
            started = time.monotonic()
            assert await ls(bob, ".") == 200
            assert (await upload_one(agent, bob, "mine.txt")).status == 204
            assert time.monotonic() - started < 2
            assert not any(task.done() for task in stuck)
        finally:
            gate.set()
        assert await asyncio.gather(*stuck) == [200] * 40
    await backend.close()
