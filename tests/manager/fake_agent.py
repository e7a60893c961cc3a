"""A fake agent: the agent API of ``backendai.common.agent_protocol`` on an aiohttp test server,
keeping "containers" in memory, with slow and failing variants (``create_delay``,
``fail_create``). It records every call, so tests can assert what reached the agent.

A kernel created with a batch ``task`` gets a ``FakeTask`` that runs until the test says:
``write_task`` adds output, ``finish_task`` ends it (and posts ``TASK_FINISHED``, as the agent
does); ``on_create`` runs before the create call is answered (a task that ends that soon)."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from backendai.agent.image_commit import owner_of_name
from backendai.common.agent_protocol import (
    AGENT_TOKEN_HEADER,
    AgentHeartbeat,
    CommitRequest,
    ContainerInfo,
    ContainerState,
    DestroyResult,
    DownloadRequest,
    FileEntry,
    ImageInfo,
    ImageRemoveRequest,
    KernelCreated,
    KernelCreateRequest,
    KernelEvent,
    KernelEventKind,
    KernelStats,
    ListFilesRequest,
    ListFilesResult,
    ServicePort,
)
from backendai.common.batch_tasks import (
    AGENT_TASK_LOG,
    TASK_EXIT_HEADER,
    TASK_STATE_HEADER,
)
from backendai.common.errors import InvalidRequest
from backendai.common.streaming import abort_response
from tests.fixtures.platform import TEST_AGENT_TOKEN, ManagerHarness

GiB = 1024**3
PYTHON_LABELS = {
    "ai.backend.kernelspec": "1",
    "ai.backend.resource.min.cpu": "1",
    "ai.backend.resource.min.mem": "256m",
    "ai.backend.service-ports": "ttyd:http:7681,sshd:tcp:2200",
}
PYTHON_IMAGES = [
    ImageInfo(name="backendai/python:3.11-debian12", digest="sha256:aa", size_bytes=1,
              labels=PYTHON_LABELS),
    ImageInfo(name="backendai/python:latest", digest="sha256:aa", size_bytes=1,
              labels=PYTHON_LABELS),
    ImageInfo(name="backendai/base:debian12", digest="sha256:bb", size_bytes=1, labels={}),
]  # fmt: skip


def _problem(status: int, msg: str) -> web.Response:
    body = {"type": "https://api.backend.ai/probs/agent-error", "title": "Agent error", "msg": msg}
    return web.json_response(body, status=status)


@dataclass
class FakeTask:
    """A batch kernel's task: its output so far and, once ended, its exit code."""

    output: bytearray = field(default_factory=bytearray)
    exit_code: int | None = None
    gone: bool = False  # its kernel was destroyed
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class FakeAgent:
    def __init__(
        self,
        agent_id: str = "agent-1",
        *,
        cpu: int = 4,
        mem: int = 8 * GiB,
        images: list[ImageInfo] | None = None,
        create_delay: float = 0.0,
        destroy_delay: float = 0.0,
        fail_create: str | None = None,
        token: str = TEST_AGENT_TOKEN,
    ) -> None:
        self.agent_id = agent_id
        self.slots = {"cpu": str(cpu), "mem": str(mem)}
        self.images = PYTHON_IMAGES if images is None else images
        self.create_delay = create_delay
        self.destroy_delay = destroy_delay
        self.fail_stats = False
        self.fail_create = fail_create
        self.token = token
        self.containers: dict[uuid.UUID, ContainerInfo] = {}
        self.created: dict[uuid.UUID, KernelCreated] = {}
        self.create_calls: list[KernelCreateRequest] = []
        self.destroy_calls: list[uuid.UUID] = []
        self.restart_calls: list[uuid.UUID] = []
        self.uploads: list[tuple[str, bytes]] = []
        self.executions: list[dict[str, Any]] = []
        self.pty_frames: list[dict[str, Any]] = []
        self.commit_calls: list[tuple[uuid.UUID, CommitRequest]] = []
        self.removed_images: list[str] = []
        self.tasks: dict[uuid.UUID, FakeTask] = {}
        self.task_log_calls: list[tuple[uuid.UUID, int, bool]] = []
        self.on_create: Callable[[KernelCreateRequest], Awaitable[None]] | None = None
        # What a task-log follower gets when its kernel is destroyed: the real agent ends the
        # answer ("end"); "cut" drops the connection instead (an agent that dies).
        self.cut_followers = False
        self.stall_followers = False  # followers get no output written after they came
        self.server = TestServer(self._app())

    @property
    def addr(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    async def start(self) -> None:
        await self.server.start_server()

    async def close(self) -> None:
        await self.server.close()

    async def go_down(self) -> None:
        """Stop listening (a crashed or restarting agent); ``come_back`` listens again on the
        same address with the same containers."""
        port = self.server.port
        await self.server.close()
        self.server = TestServer(self._app(), port=port)

    async def come_back(self) -> None:
        await self.server.start_server()

    # What the agent reports to the manager ------------------------------------------------

    def heartbeat(self) -> AgentHeartbeat:
        return AgentHeartbeat(
            agent_id=self.agent_id, addr=self.addr, version="test", available_slots=self.slots,
            containers=list(self.containers.values()), images=self.images,
        )  # fmt: skip

    async def send_heartbeat(self, manager: ManagerHarness, token: str | None = None) -> int:
        resp = await manager.client.post(
            "/internal/agents/heartbeat",
            json=self.heartbeat().model_dump(mode="json"),
            headers={AGENT_TOKEN_HEADER: token or self.token},
        )
        return resp.status

    async def send_exit(
        self, manager: ManagerHarness, kernel_id: uuid.UUID, *, oom: bool = False
    ) -> int:
        self.containers[kernel_id] = self.containers[kernel_id].model_copy(
            update={"state": ContainerState.EXITED, "exit_code": 137 if oom else 1,
                    "oom_killed": oom}
        )  # fmt: skip
        ev = KernelEvent(
            agent_id=self.agent_id, kernel_id=kernel_id, kind=KernelEventKind.TERMINATED,
            reason="oom-killed" if oom else "self-terminated", exit_code=137 if oom else 1,
        )  # fmt: skip
        resp = await manager.client.post(
            "/internal/agents/events",
            json=ev.model_dump(mode="json"),
            headers={AGENT_TOKEN_HEADER: self.token},
        )
        return resp.status

    # Batch tasks ---------------------------------------------------------------------------

    def write_task(self, kernel_id: uuid.UUID, data: bytes) -> None:
        task = self.tasks[kernel_id]
        task.output += data
        task.notify()

    async def finish_task(
        self,
        manager: ManagerHarness,
        kernel_id: uuid.UUID,
        exit_code: int,
        *,
        output: bytes = b"",
        event: bool = True,
    ) -> int | None:
        """End the task (after ``output``); report it in heartbeats from now on and, with
        ``event``, post ``TASK_FINISHED`` (returns its answer's status)."""
        task = self.tasks[kernel_id]
        task.output += output
        task.exit_code = exit_code
        task.notify()
        self.containers[kernel_id] = self.containers[kernel_id].model_copy(
            update={"task_exit_code": exit_code}
        )
        if not event:
            return None
        return await self.post_task_finished(manager, kernel_id, exit_code)

    async def post_task_finished(
        self, manager: ManagerHarness, kernel_id: uuid.UUID, exit_code: int
    ) -> int:
        ev = KernelEvent(
            agent_id=self.agent_id, kernel_id=kernel_id, kind=KernelEventKind.TASK_FINISHED,
            reason="task-finished", exit_code=exit_code,
        )  # fmt: skip
        resp = await manager.client.post(
            "/internal/agents/events",
            json=ev.model_dump(mode="json"),
            headers={AGENT_TOKEN_HEADER: self.token},
        )
        return resp.status

    async def _task_log(self, request: web.Request) -> web.StreamResponse:
        """``AGENT_TASK_LOG`` as the contract has it."""
        kid = uuid.UUID(request.match_info["kid"])
        offset = int(request.query.get("offset", "0"))
        follow = request.query.get("follow", "0") == "1"
        self.task_log_calls.append((kid, offset, follow))
        task = self.tasks.get(kid)
        if task is None or task.gone:
            return _problem(404, "no task log")
        headers = {TASK_STATE_HEADER: "running" if task.exit_code is None else "finished"}
        if task.exit_code is not None:
            headers[TASK_EXIT_HEADER] = str(task.exit_code)
        resp = web.StreamResponse(headers={"Content-Type": "text/plain", **headers})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        while True:
            while offset < len(task.output) and not (follow and self.stall_followers):
                piece = bytes(task.output[offset : offset + 64 * 1024])
                offset += len(piece)
                await resp.write(piece)
            if not follow or task.exit_code is not None:
                break
            if task.gone:
                if self.cut_followers:
                    abort_response(request)
                    return resp
                break
            await task.changed.wait()
        await resp.write_eof()
        return resp

    # The agent API ---------------------------------------------------------------------------

    def _app(self) -> web.Application:
        @web.middleware
        async def check_token(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.headers.get(AGENT_TOKEN_HEADER) != self.token:
                return _problem(401, "bad agent token")
            return await handler(request)  # type: ignore[no-any-return]

        app = web.Application(middlewares=[check_token])
        app.router.add_post("/v1/kernels", self._create)
        app.router.add_get("/v1/kernels", self._list)
        app.router.add_delete("/v1/kernels/{kid}", self._destroy)
        app.router.add_post("/v1/kernels/{kid}/restart", self._restart)
        app.router.add_get("/v1/kernels/{kid}/stats", self._stats)
        app.router.add_get("/v1/kernels/{kid}/execute", self._execute)
        app.router.add_get("/v1/kernels/{kid}/pty", self._pty)
        app.router.add_post("/v1/kernels/{kid}/upload", self._upload)
        app.router.add_post("/v1/kernels/{kid}/download", self._download)
        app.router.add_post("/v1/kernels/{kid}/files", self._files)
        app.router.add_get("/v1/kernels/{kid}/logs", self._logs)
        app.router.add_get(AGENT_TASK_LOG.replace("{kernel_id}", "{kid}"), self._task_log)
        app.router.add_post("/v1/kernels/{kid}/commit", self._commit)
        app.router.add_get("/v1/images", self._images)
        app.router.add_post("/v1/images/remove", self._remove_image)
        return app

    def _kid(self, request: web.Request) -> uuid.UUID:
        kid = uuid.UUID(request.match_info["kid"])
        if kid not in self.containers:
            raise web.HTTPNotFound()
        return kid

    async def _create(self, request: web.Request) -> web.Response:
        req = KernelCreateRequest.model_validate(await request.json())
        self.create_calls.append(req)
        if self.create_delay:
            await asyncio.sleep(self.create_delay)
        if self.fail_create:
            return _problem(500, self.fail_create)
        if req.task is not None and req.kernel_id not in self.tasks:
            self.tasks[req.kernel_id] = FakeTask()
        if req.kernel_id not in self.created:  # idempotent
            self.created[req.kernel_id] = KernelCreated(
                kernel_id=req.kernel_id, container_id=f"c-{req.kernel_id.hex[:12]}",
                service_ports=[
                    ServicePort(name="ttyd", protocol="http", container_ports=[7681]),
                    ServicePort(name="sshd", protocol="tcp", container_ports=[2200]),
                ],
                occupied_slots=req.slots,
            )  # fmt: skip
            self.containers[req.kernel_id] = ContainerInfo(
                kernel_id=req.kernel_id, session_id=req.session_id,
                container_id=self.created[req.kernel_id].container_id,
                state=ContainerState.RUNNING,
            )  # fmt: skip
        if self.on_create is not None:
            await self.on_create(req)
        return web.json_response(self.created[req.kernel_id].model_dump(mode="json"))

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response([c.model_dump(mode="json") for c in self.containers.values()])

    async def _stats(self, request: web.Request) -> web.Response:
        kid = self._kid(request)
        if self.fail_stats:
            return _problem(500, "no stats today")
        stat = {"mem": {"current": "2048", "capacity": None, "unit_hint": "bytes"}}
        return web.json_response(KernelStats(kernel_id=kid, last_stat=stat).model_dump(mode="json"))

    async def _destroy(self, request: web.Request) -> web.Response:
        kid = uuid.UUID(request.match_info["kid"])
        self.destroy_calls.append(kid)
        if self.destroy_delay:
            await asyncio.sleep(self.destroy_delay)
        task = self.tasks.get(kid)
        if task is not None:
            task.gone = True
            task.notify()
        if self.containers.pop(kid, None) is None:
            return _problem(404, "no such kernel")
        result = DestroyResult(
            kernel_id=kid, container_log=f"log of {kid}\n",
            last_stat={"mem": {"current": "1024", "capacity": None, "unit_hint": "bytes"}},
        )  # fmt: skip
        return web.json_response(result.model_dump(mode="json"))

    async def _restart(self, request: web.Request) -> web.Response:
        kid = self._kid(request)
        self.restart_calls.append(kid)
        restarted = self.created[kid].model_copy(
            # Another port than at create, so a test sees the restart's ports stored.
            update={"service_ports": [ServicePort(name="ttyd", protocol="http",
                                                  container_ports=[7682])]}
        )  # fmt: skip
        return web.json_response(restarted.model_dump(mode="json"))

    async def _pty(self, request: web.Request) -> web.WebSocketResponse:
        """An echoing terminal: every stdin frame comes back as output."""
        self._kid(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            frame = json.loads(msg.data)
            self.pty_frames.append(frame)
            if frame.get("type") == "stdin":
                await ws.send_json({"type": "out", "data": frame["chars"]})
        return ws

    async def _execute(self, request: web.Request) -> web.WebSocketResponse:
        self._kid(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = await ws.receive_json()
        self.executions.append(first)
        code = first.get("code", "")
        if code == "input":
            await ws.send_json({"status": "waiting-input", "console": [], "options": {}})
            answer = await ws.receive_str()
            out = f"got {answer}\n"
        elif code == "sleep":
            interrupt = await ws.receive_json()
            out = f"interrupted: {interrupt.get('interrupt')}\n"
        else:
            await ws.send_json({"status": "continued", "console": [["stdout", "partial "]]})
            out = f"ran {code}\n"
        await ws.send_json({"status": "finished", "console": [["stdout", out]], "exitCode": 0,
                            "options": {}, "files": []})  # fmt: skip
        await ws.close()
        return ws

    async def _upload(self, request: web.Request) -> web.Response:
        self._kid(request)
        async for part in await request.multipart():
            assert isinstance(part, aiohttp.BodyPartReader)
            assert part.name == "src"
            name = urllib.parse.unquote(part.filename or "")  # as the real agent does
            self.uploads.append((name, bytes(await part.read())))
        return web.Response(status=204)

    async def _download(self, request: web.Request) -> web.Response:
        self._kid(request)
        req = DownloadRequest.model_validate(await request.json())
        with aiohttp.MultipartWriter("mixed") as mp:
            for name in req.files:
                if name == "missing.txt":
                    return _problem(400, "The file is not found.")
                buf = io.BytesIO()
                with tarfile.open(fileobj=buf, mode="w") as tar:
                    data = f"content of {name}".encode()
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                mp.append(buf.getvalue(), {"Content-Type": "application/x-tar"})
        resp = web.Response(body=mp)
        return resp

    async def _files(self, request: web.Request) -> web.Response:
        self._kid(request)
        req = ListFilesRequest.model_validate(await request.json())
        entry = FileEntry(filename="main.py", size=10, mode="-rw-r--r--", mtime=1.5, ctime=1.5,
                          atime=1.5)  # fmt: skip
        result = ListFilesResult(files=[entry], abspath=f"/home/work/{req.path}".rstrip("/."))
        return web.json_response(json.loads(result.model_dump_json()))

    async def _logs(self, request: web.Request) -> web.Response:
        kid = self._kid(request)
        return web.Response(text=f"live log of {kid}\n")

    # Images (commit, list, remove), with the real agent's checks of private names ----------

    async def _commit(self, request: web.Request) -> web.Response:
        kid = self._kid(request)
        req = CommitRequest.model_validate(await request.json())
        self.commit_calls.append((kid, req))
        try:
            owner_of_name(req.image)
        except InvalidRequest as e:
            return _problem(400, e.msg or "invalid")
        source = next(r.image for r in self.create_calls if r.kernel_id == kid)
        labels = next((i.labels for i in self.images if i.name == source), {})
        made = ImageInfo(
            name=req.image, digest=f"sha256:{req.image}", size_bytes=2,
            labels=dict(labels) | req.labels,
        )  # fmt: skip
        self.images = [i for i in self.images if i.name != req.image] + [made]
        return web.json_response(made.model_dump(mode="json"))

    async def _images(self, request: web.Request) -> web.Response:
        return web.json_response([i.model_dump(mode="json") for i in self.images])

    async def _remove_image(self, request: web.Request) -> web.Response:
        req = ImageRemoveRequest.model_validate(await request.json())
        self.removed_images.append(req.image)
        self.images = [i for i in self.images if i.name != req.image]
        return web.Response(status=204)
