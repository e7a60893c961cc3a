"""The compute-session routes of the fake manager (API_CONTRACT §2-§4), scripted by tests.

* ``POST /session`` creates (201) or reuses (200) a session by name, or answers
  ``create_error``; new sessions get ``create_status``.
* the execute WebSocket plays ``exec_script(first_frame)``: dict frames are sent, an
  :class:`Expect` step reads the client's input line, :class:`WaitInterrupt` waits for
  ``POST /session/{name}/interrupt``;
* ``GET /events/session`` plays one entry of ``event_streams`` per connection;
* ``GET /session/{name}/download`` answers one TAR part per file of ``container_files``.
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import io
import json
import tarfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from tests.client.fake_server import problem

if TYPE_CHECKING:
    from tests.client.fake_server import FakeBackend

MTIME = 1630497600.0  # 2021-09-01T12:00:00Z


@dataclass
class Expect:
    """Read one text frame (an input line); ``reply`` makes the frame sent back."""

    reply: Callable[[str], dict[str, Any]] | None = None


@dataclass
class WaitInterrupt:
    """Wait until the client calls the interrupt API."""


Step = dict[str, Any] | Expect | WaitInterrupt


def finished(stdout: str = "", exit_code: int = 0, **extra: Any) -> dict[str, Any]:
    frame = {"status": "finished", "console": [["stdout", stdout]] if stdout else []}
    return {**frame, "exitCode": exit_code, "options": {}, "files": [], **extra}


def default_script(first: dict[str, Any]) -> list[Step]:
    if first.get("mode") == "batch":
        return [
            {"status": "clean-finished", "console": [], "exitCode": 0},
            {"status": "build-finished", "console": [["stderr", "skipping build\n"]],
             "exitCode": 0},
            finished("this is my code\n"),
        ]  # fmt: skip
    return [finished("hello\n")]


@dataclass
class FakeSession:
    name: str
    image: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = "RUNNING"
    uploads: dict[str, bytes] = field(default_factory=dict)


@dataclass
class SessionRoutes:
    backend: FakeBackend
    sessions: dict[str, FakeSession] = field(default_factory=dict)
    create_status: str = "RUNNING"
    create_error: tuple[int, str, str] | None = None
    create_answer: dict[str, Any] | None = None  # answered verbatim (201) when set
    service_ports: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"name": "jupyter", "protocol": "http", "ports": [8080]},
            {"name": "sshd", "protocol": "tcp", "ports": [2200]},
        ]
    )
    exec_script: Callable[[dict[str, Any]], list[Step]] = default_script
    exec_frames: list[dict[str, Any]] = field(default_factory=list)  # first frames received
    exec_inputs: list[str] = field(default_factory=list)
    exec_paths: list[str] = field(default_factory=list)
    on_frame_sent: Callable[[dict[str, Any]], None] | None = None
    exec_refused: set[str] = field(default_factory=set)  # names whose stream answers 404
    interrupts: int = 0
    exec_running: int = 0
    exec_peak: int = 0  # the most executions streamed at the same time
    destroy_stats: dict[str, Any] | None = None
    container_files: dict[str, bytes] = field(default_factory=dict)
    logs: str = "log line 1\nlog line 2"
    event_streams: list[list[tuple[str, Any]]] = field(default_factory=list)
    event_queries: list[dict[str, str]] = field(default_factory=list)
    pty_received: list[dict[str, Any]] = field(default_factory=list)
    _interrupted: asyncio.Event | None = None

    def add_routes(self, app: web.Application) -> None:
        for prefix in ("", "/func"):
            r = app.router
            r.add_post(prefix + "/session", self._create)
            r.add_get(prefix + "/session/{name}", self._info)
            r.add_patch(prefix + "/session/{name}", self._restart)
            r.add_delete(prefix + "/session/{name}", self._destroy)
            r.add_post(prefix + "/session/{name}/upload", self._upload)
            r.add_get(prefix + "/session/{name}/download", self._download)
            r.add_get(prefix + "/session/{name}/files", self._files)
            r.add_get(prefix + "/session/{name}/logs", self._logs)
            r.add_post(prefix + "/session/{name}/interrupt", self._interrupt)
            r.add_get(prefix + "/stream/session/{name}/execute", self._execute)
            r.add_get(prefix + "/stream/session/{name}/pty", self._pty)
            r.add_get(prefix + "/events/session", self._events)

    def find(self, ref: str) -> FakeSession | None:
        for sess in self.sessions.values():
            if ref in (sess.name, sess.id):
                return sess
        return None

    def _lookup(self, request: web.Request) -> FakeSession | web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        sess = self.find(request.match_info["name"])
        if sess is None:
            return problem(404, "session-not-found", "No such session.")
        return sess

    async def _create(self, request: web.Request) -> web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        body = await request.json()
        if self.create_error is not None:
            status, slug, title = self.create_error
            return problem(status, slug, title)
        if self.create_answer is not None:
            return web.json_response(self.create_answer, status=201)
        existing = self.sessions.get(body["name"])
        if existing is not None and body["reuseIfExists"] and existing.image == body["image"]:
            return web.json_response(
                {"sessionId": existing.id, "sessionName": existing.name, "status": "RUNNING",
                 "created": False, "service_ports": self.service_ports},
            )  # fmt: skip
        if existing is not None:
            return problem(400, "session-already-exists", "The session already exists.")
        sess = FakeSession(body["name"], body["image"], status=self.create_status)
        self.sessions[sess.name] = sess
        return web.json_response(
            {"sessionId": sess.id, "sessionName": sess.name, "status": sess.status,
             "created": True, "servicePorts": self.service_ports},
            status=201,
        )  # fmt: skip

    async def _info(self, request: web.Request) -> web.Response:
        sess = self._lookup(request)
        if isinstance(sess, web.Response):
            return sess
        return web.json_response({"image": sess.image, "status": sess.status, "age": 1})

    async def _restart(self, request: web.Request) -> web.Response:
        sess = self._lookup(request)
        return sess if isinstance(sess, web.Response) else web.Response(status=204)

    async def _destroy(self, request: web.Request) -> web.Response:
        sess = self._lookup(request)
        if isinstance(sess, web.Response):
            return sess
        del self.sessions[sess.name]
        return web.json_response({"stats": self.destroy_stats})

    async def _upload(self, request: web.Request) -> web.Response:
        sess = self._lookup(request)
        if isinstance(sess, web.Response):
            return sess
        raw = b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n"
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            raw + await request.read()
        )
        for part in message.iter_parts():
            assert part.get_param("name", header="content-disposition") == "src"
            sess.uploads[str(part.get_filename())] = part.get_payload(decode=True)
        return web.Response(status=204)

    async def _download(self, request: web.Request) -> web.StreamResponse:
        sess = self._lookup(request)
        if isinstance(sess, web.Response):
            return sess
        names = (await request.json())["files"]
        writer = aiohttp.MultipartWriter("mixed")
        for name in names:
            if name not in self.container_files:
                return problem(400, "invalid-api-params", "The file is not found.")
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                data = self.container_files[name]
                info = tarfile.TarInfo(name.rsplit("/", 1)[-1])
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            writer.append(buf.getvalue(), {"Content-Type": "application/x-tar"})
        return web.Response(body=writer)

    async def _files(self, request: web.Request) -> web.Response:
        sess = self._lookup(request)
        if isinstance(sess, web.Response):
            return sess
        path = (await request.json())["path"]
        if path == "/nowhere":
            return web.json_response({"files": "[]", "errors": "No such directory", "abspath": ""})
        entries = [
            {"filename": name, "size": len(data), "mode": "-rw-r--r--", "mtime": MTIME,
             "ctime": MTIME, "atime": MTIME}
            for name, data in sorted(self.container_files.items())
        ]  # fmt: skip
        return web.json_response({"files": json.dumps(entries), "errors": "", "abspath": path})

    async def _logs(self, request: web.Request) -> web.Response:
        sess = self._lookup(request)
        if isinstance(sess, web.Response):
            return sess
        return web.json_response({"result": {"logs": self.logs}})

    async def _interrupt(self, request: web.Request) -> web.Response:
        sess = self._lookup(request)
        if isinstance(sess, web.Response):
            return sess
        self.interrupts += 1
        if self._interrupted is not None:
            self._interrupted.set()
        return web.Response(status=204)

    async def _execute(self, request: web.Request) -> web.StreamResponse:
        sess = self._lookup(request)
        if isinstance(sess, web.Response):
            return sess
        self.exec_paths.append(request.raw_path)
        if sess.name in self.exec_refused:
            return problem(404, "session-not-found", "No such session.")
        self._interrupted = asyncio.Event()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = json.loads((await ws.receive()).data)
        self.exec_frames.append(first)
        self.exec_running += 1
        self.exec_peak = max(self.exec_peak, self.exec_running)
        try:
            await self._play(ws, first)
        finally:
            self.exec_running -= 1
        await ws.close()
        return ws

    async def _play(self, ws: web.WebSocketResponse, first: dict[str, Any]) -> None:
        await asyncio.sleep(0.02)  # long enough for parallel cases to overlap
        for step in self.exec_script(first):
            if isinstance(step, Expect):
                msg = await ws.receive()
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break  # the client went away
                self.exec_inputs.append(msg.data)
                if step.reply is not None:
                    await self._send(ws, step.reply(msg.data))
            elif isinstance(step, WaitInterrupt):
                await self._interrupted.wait()
            else:
                await self._send(ws, step)

    async def _send(self, ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        await ws.send_str(json.dumps(frame))
        if self.on_frame_sent is not None:
            self.on_frame_sent(frame)

    async def _pty(self, request: web.Request) -> web.StreamResponse:
        sess = self._lookup(request)
        if isinstance(sess, web.Response):
            return sess
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            frame = json.loads(msg.data)
            self.pty_received.append(frame)
            if frame["type"] == "stdin":
                await ws.send_str(json.dumps({"type": "out", "data": frame["chars"]}))
            elif frame["type"] == "resize":
                text = f"resized to {frame['rows']}x{frame['cols']}"
                data = base64.b64encode(text.encode()).decode()
                await ws.send_str(json.dumps({"type": "out", "data": data}))
            elif frame["type"] == "restart":
                await ws.send_str(json.dumps({"type": "error", "data": "cannot restart"}))
        return ws

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if denied := self.backend._authenticate(request):
            return denied
        self.event_queries.append(dict(request.query))
        script = self.event_streams.pop(0) if self.event_streams else [("server_close", {})]
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b": ping\r\n\r\n")
        for name, data in script:
            if name == "retry":
                await resp.write(f"retry: {data}\r\n\r\n".encode())
                continue
            await resp.write(f"event: {name}\r\ndata: {json.dumps(data)}\r\n\r\n".encode())
        await resp.write_eof()
        return resp
