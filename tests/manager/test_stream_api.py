"""Code execution relayed to the agent, apps, and files and logs of a session's container."""

from __future__ import annotations

import io
import json
import tarfile
import uuid

import aiohttp

from backendai.common.statuses import SessionStatus
from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import create, json_of, kernel_row, session_row, wait_status
from tests.manager.fake_agent import FakeAgent

PROBS = "https://api.backend.ai/probs/"


async def _execute(platform: ManagerHarness, ref: str) -> aiohttp.ClientWebSocketResponse:
    path = f"/stream/session/{ref}/execute"
    return await platform.client.ws_connect(path, headers=platform.stream_headers(path))


async def test_execute_relays_frames(platform: ManagerHarness, joined: FakeAgent) -> None:
    _, body = await create(platform, "exec-1")
    sid = body["sessionId"]
    before = (await session_row(platform, sid)).last_activity
    ws = await _execute(platform, sid)
    await ws.send_str(json.dumps({"code": "print(1)", "mode": "query", "options": {}}))
    first = await ws.receive_json()
    assert first == {"status": "continued", "console": [["stdout", "partial "]]}
    last = await ws.receive_json()
    assert last["status"] == "finished" and last["console"] == [["stdout", "ran print(1)\n"]]
    assert (await ws.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await ws.close()
    assert joined.executions == [{"code": "print(1)", "mode": "query", "options": {}}]
    assert (await kernel_row(platform, sid)).num_queries == 1
    after = (await session_row(platform, sid)).last_activity
    assert before is not None and after is not None and after >= before


async def test_execute_input_and_interrupt(platform: ManagerHarness, joined: FakeAgent) -> None:
    await create(platform, "exec-2")
    ws = await _execute(platform, "exec-2")  # by name works too
    await ws.send_json({"code": "input", "mode": "query", "options": {}})
    assert (await ws.receive_json())["status"] == "waiting-input"
    await ws.send_str("hello")  # a raw text frame, not JSON
    assert (await ws.receive_json())["console"] == [["stdout", "got hello\n"]]
    await ws.close()
    ws = await _execute(platform, "exec-2")
    await ws.send_json({"code": "sleep", "mode": "query", "options": {}})
    await ws.send_json({"interrupt": True})
    assert (await ws.receive_json())["console"] == [["stdout", "interrupted: True\n"]]
    await ws.close()


async def test_execute_needs_a_running_session(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    _, body = await create(platform, "exec-3", enqueueOnly=True)
    path = f"/stream/session/{body['sessionId']}/execute"
    resp = await platform.client.get(path, headers=platform.stream_headers(path))
    problem = await json_of(resp)
    assert resp.status == 400 and problem["type"] == PROBS + "invalid-session-state"
    assert "PENDING" in problem["msg"]


async def test_apps(platform: ManagerHarness, joined: FakeAgent) -> None:
    await create(platform, "apps-1")
    resp = await platform.signed("GET", "/stream/session/apps-1/apps")
    assert await resp.json() == [
        {"name": "ttyd", "protocol": "http", "ports": [7681]},
        {"name": "sshd", "protocol": "tcp", "ports": [2200]},
    ]


async def test_upload_and_limits(platform: ManagerHarness, joined: FakeAgent) -> None:
    await create(platform, "up-1")
    resp = await platform.upload("/session/up-1/upload", [("main.py", b"print(1)"),
                                                         ("pkg/mod.py", b"x = 1")])  # fmt: skip
    assert resp.status == 204
    assert joined.uploads == [("main.py", b"print(1)"), ("pkg/mod.py", b"x = 1")]
    resp = await platform.upload("/session/up-1/upload", [("big.bin", b"x" * 1024 * 1024)])
    body = await json_of(resp)
    assert resp.status == 400 and "smaller than 1 MiB" in body["msg"]
    many = [(f"f{i}.txt", b"x") for i in range(21)]
    resp = await platform.upload("/session/up-1/upload", many)
    body = await json_of(resp)
    assert resp.status == 400 and "at most 20 files" in body["msg"]
    resp = await platform.upload("/session/up-1/upload", [("../escape", b"x")])
    assert resp.status == 400
    assert len(joined.uploads) == 2  # none of the refused ones reached the agent


async def test_download_relays_multipart(platform: ManagerHarness, joined: FakeAgent) -> None:
    await create(platform, "down-1")
    resp = await platform.signed("GET", "/session/down-1/download", body={"files": ["a.txt"]})
    assert resp.status == 200 and resp.content_type == "multipart/mixed"
    reader = aiohttp.MultipartReader.from_response(resp)
    part = await reader.next()
    assert isinstance(part, aiohttp.BodyPartReader)
    with tarfile.open(fileobj=io.BytesIO(bytes(await part.read()))) as tar:
        member = tar.extractfile("a.txt")
        assert member is not None and member.read() == b"content of a.txt"
    resp = await platform.signed("GET", "/session/down-1/download", body={"files": ["missing.txt"]})
    body = await json_of(resp)
    assert resp.status == 400 and body["msg"] == "The file is not found."
    six = {"files": [f"f{i}" for i in range(6)]}
    resp = await platform.signed("GET", "/session/down-1/download", body=six)
    assert resp.status == 400


async def test_list_files(platform: ManagerHarness, joined: FakeAgent) -> None:
    await create(platform, "ls-1")
    resp = await platform.signed("GET", "/session/ls-1/files", body={"path": "."})
    body = await resp.json()
    assert body["errors"] == "" and body["abspath"] == "/home/work"
    [entry] = json.loads(body["files"])
    assert entry["filename"] == "main.py" and entry["size"] == 10 and entry["mode"]


async def test_logs_live_and_after_termination(platform: ManagerHarness, joined: FakeAgent) -> None:
    _, body = await create(platform, "logs-1")
    kid = uuid.UUID(body["sessionId"])
    resp = await platform.signed("GET", "/session/logs-1/logs")
    assert await resp.json() == {"result": {"logs": f"live log of {kid}\n"}}
    await platform.signed("DELETE", "/session/logs-1")
    await wait_status(platform, kid, SessionStatus.TERMINATED)  # the log is kept at the end
    resp = await platform.signed("GET", "/session/logs-1/logs")
    assert await resp.json() == {"result": {"logs": f"log of {kid}\n"}}  # kept at the end


async def test_interrupt_reaches_the_running_code(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    await create(platform, "exec-int")
    ws = await _execute(platform, "exec-int")
    await ws.send_json({"code": "sleep", "mode": "query", "options": {}})
    for _ in range(50):  # the relay registers once the agent socket is open
        resp = await platform.signed("POST", "/session/exec-int/interrupt")
        assert resp.status == 204
        try:
            frame = await ws.receive_json(timeout=0.1)
        except TimeoutError:
            continue
        assert frame["console"] == [["stdout", "interrupted: True\n"]]
        break
    else:
        raise AssertionError("the interrupt never reached the running code")
    await ws.close()


async def test_execute_without_websocket_is_a_clear_400(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    await create(platform, "exec-plain")
    path = "/stream/session/exec-plain/execute"
    resp = await platform.client.get(path, headers=platform.stream_headers(path))
    problem = await json_of(resp)
    assert resp.status == 400 and "WebSocket" in problem["msg"]


async def test_pty_is_relayed(platform: ManagerHarness, joined: FakeAgent) -> None:
    await create(platform, "pty-1")
    path = "/stream/session/pty-1/pty"
    ws = await platform.client.ws_connect(path, headers=platform.stream_headers(path))
    await ws.send_json({"type": "stdin", "chars": "bHMK"})
    assert await ws.receive_json() == {"type": "out", "data": "bHMK"}
    await ws.close()
    assert joined.pty_frames == [{"type": "stdin", "chars": "bHMK"}]
