"""The compute-session streams: execution WebSocket, lifecycle events (SSE), terminal."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from backendai.client import AsyncSession, BackendAPIError, BackendClientError, Session
from backendai.client.func import session_streams
from backendai.client.func.session_streams import SSEMessage, parse_sse
from backendai.client.legacy import AsyncKernel, Kernel
from tests.client.fake_server import FakeBackend
from tests.client.fake_sessions import Expect, Step, finished

WAITING = {"status": "waiting-input", "console": [["stdout", "your name? "]], "options": {}}


def _input_script(first: dict[str, Any]) -> list[Step]:
    return [
        {"status": "continued", "console": [["stdout", "start\n"]]},
        WAITING,
        Expect(lambda line: finished(f"hello, {line}!\n")),
    ]


def test_execute_query_collects_the_result(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.exec_script = lambda first: [
        {"status": "continued", "console": [["stdout", "a\n"]]},
        finished("b\n", exit_code=3, files=[{"name": "f.png", "url": "http://x/f.png"}]),
    ]
    with Session() as api:
        sess = api.ComputeSession.get_or_create("img", name="mysess")
        result = sess.execute('print("hello world")', mode="query")  # the README's call
        official = sess.execute(None, "print(2)")  # the official client's signature
    assert result == {
        "status": "finished", "exitCode": 3,
        "console": [["stdout", "a\n"], ["stdout", "b\n"]],
        "files": [{"name": "f.png", "url": "http://x/f.png"}], "options": {},
    }  # fmt: skip
    assert official["exitCode"] == 3
    assert backend.sessions.exec_frames == [
        {"code": 'print("hello world")', "mode": "query", "options": {}},
        {"code": "print(2)", "mode": "query", "options": {}},
    ]
    # The stream is keyed by UUID, signed as octet-stream, and has no Content-Type.
    assert backend.sessions.exec_paths == [f"/stream/session/{sess.id}/execute"] * 2
    ws_request = next(r for r in backend.requests if r.path.endswith("/execute"))
    assert "Content-Type" not in ws_request.headers
    assert ws_request.headers["Authorization"].startswith("BackendAI signMethod=HMAC-SHA256")


def test_execute_answers_input(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.exec_script = _input_script
    seen: list[dict[str, Any]] = []

    def provide(frame: dict[str, Any]) -> str:
        seen.append(frame)
        return "LABLUP"

    with Session() as api:
        sess = api.ComputeSession.get_or_create("img", name="mysess")
        result = sess.execute("name = input('your name? ')", input_provider=provide)
        with pytest.raises(BackendClientError, match="waiting for input"):
            sess.execute("input()")
    assert seen == [WAITING]
    assert backend.sessions.exec_inputs == ["LABLUP"]  # sent as a raw text frame
    assert result["console"][-1] == ["stdout", "hello, LABLUP!\n"]


def test_execute_batch_options_and_bad_mode(api_mode: str, backend: FakeBackend) -> None:
    with Session() as api:
        sess = api.ComputeSession.get_or_create("img", name="mysess")
        frames = list(
            sess.stream_execute("", mode="batch", opts={"clean": "*", "exec": "python x.py"})
        )
        with pytest.raises(BackendClientError, match="Invalid execution mode"):
            sess.execute("x", mode="complete")
    assert [f["status"] for f in frames] == ["clean-finished", "build-finished", "finished"]
    assert backend.sessions.exec_frames[0] == {
        "code": "", "mode": "batch",
        "options": {"clean": "*", "build": None, "buildLog": False, "exec": "python x.py"},
    }  # fmt: skip


def test_execute_on_a_missing_session(api_mode: str) -> None:
    with Session() as api, pytest.raises(BackendAPIError) as info:
        api.ComputeSession("nosuch").execute("print(1)")
    assert info.value.status == 404


async def test_async_stream_execute_with_async_input(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.exec_script = _input_script

    async def provide(frame: dict[str, Any]) -> str:
        return "async"

    async with AsyncSession() as api:
        sess = await api.ComputeSession.get_or_create("img", name="mysess")
        statuses = [
            frame["status"]
            async for frame in sess.stream_execute("input()", input_provider=provide)
        ]
    assert statuses == ["continued", "waiting-input", "finished"]
    assert backend.sessions.exec_inputs == ["async"]


async def _lines(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_parse_sse() -> None:
    stream = _lines(
        b": ping\r\n", b"\r\n",
        b"event: session_started\r\n", b'data: {"a":\r\n', b"data: 1}\r\n", b"id: 7\r\n",
        b"\r\n",
        b"data:plain\n", b"retry: 2500\n", b"\n",
        b"event: cut-off\n",  # no blank line: dropped
    )  # fmt: skip
    messages = [m async for m in parse_sse(stream)]
    assert messages == [
        SSEMessage("session_started", '{"a":\n1}', id="7"),
        SSEMessage("message", "plain", retry=2500),
    ]
    assert messages[0].json() == {"a": 1}
    assert messages[1].json() == "plain"


async def test_stream_events_by_name_and_id(api_mode: str, backend: FakeBackend) -> None:
    started = {"sessionName": "s1", "reason": ""}
    backend.sessions.event_streams = [
        [("session_started", started), ("server_close", {})],
        [("server_close", {})],
    ]
    async with AsyncSession() as api:
        by_name = api.ComputeSession("s1", "AKOTHER")
        events = [(m.event, m.json()) async for m in by_name.stream_events()]
        by_id = api.ComputeSession.from_session_id("1d0e196f-dbd7-4c3b-a116-2969d0a16ff7")
        assert [m.event async for m in by_id.stream_events(scope="kernel")] == ["server_close"]
    assert events == [("session_started", started), ("server_close", {})]
    assert backend.sessions.event_queries == [
        {"sessionName": "s1", "owner_access_key": "AKOTHER", "scope": "*"},
        {"sessionId": "1d0e196f-dbd7-4c3b-a116-2969d0a16ff7", "scope": "kernel"},
    ]
    request = next(r for r in backend.requests if r.path.startswith("/events/session"))
    assert "Content-Type" not in request.headers
    assert request.path == "/events/session?sessionName=s1&owner_access_key=AKOTHER&scope=*"


def test_stream_events_reconnects_until_server_close(
    api_mode: str, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_streams, "MIN_SSE_RETRY", 0.01)
    backend.sessions.event_streams = [
        [("retry", 10), ("session_enqueued", {"n": 1})],  # ends without server_close
        [("session_started", {"n": 2}), ("server_close", {})],
    ]
    with Session() as api:
        names = [m.event for m in api.ComputeSession("s1").stream_events()]
        assert names == ["message", "session_enqueued", "session_started", "server_close"]
        backend.sessions.event_streams = [[("session_enqueued", {})]]
        once = [m.event for m in api.ComputeSession("s1").stream_events(reconnect=False)]
        assert once == ["session_enqueued"]
    assert len(backend.sessions.event_queries) == 3


async def test_stream_pty(api_mode: str, backend: FakeBackend) -> None:
    async with AsyncSession() as api:
        sess = await api.ComputeSession.get_or_create("img", name="mysess")
        async with sess.stream_pty() as pty:
            await pty.send_stdin("ls\n")
            output = pty.__aiter__()
            assert await output.__anext__() == b"ls\n"
            await pty.resize(25, 80)
            assert await output.__anext__() == b"resized to 25x80"
            await pty.ping()
            await pty.restart()
            with pytest.raises(BackendClientError, match="cannot restart"):
                await output.__anext__()
        assert pty.closed
    assert backend.sessions.pty_received == [
        {"type": "stdin", "chars": base64.b64encode(b"ls\n").decode()},
        {"type": "resize", "rows": 25, "cols": 80},
        {"type": "ping"},
        {"type": "restart"},
    ]
    pty_request = next(r for r in backend.requests if r.path.endswith("/pty"))
    assert pty_request.path == f"/stream/session/{sess.id}/pty"


def test_legacy_kernel_facade(
    api_mode: str, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backendai.client import legacy

    monkeypatch.setattr(legacy, "_default", None)
    kern = Kernel.get_or_create("lua5", client_token="abcd")
    try:
        assert kern.name == "abcd"
        result = kern.execute('print("hello world")', mode="query")
        assert result["console"] == [["stdout", "hello\n"]]
        kern.destroy()
    finally:
        legacy.default_session().close()
    assert "DELETE /session/abcd" in backend.paths()


async def test_legacy_async_kernel_facade(api_mode: str, backend: FakeBackend) -> None:
    kern = await AsyncKernel.get_or_create("lua5", client_token="abcd")
    try:
        result = await kern.execute('print("hello world")', mode="query")
        assert result["console"] == [["stdout", "hello\n"]]
        await kern.destroy()
    finally:
        await AsyncKernel.close()
    assert "DELETE /session/abcd" in backend.paths()
