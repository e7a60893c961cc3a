"""The manager's side of the agent API (``backendai.common.agent_protocol`` and the app routes
of ``backendai.common.app_protocol``).

Every call carries the shared agent token. Failures become domain errors: an agent that cannot
be reached or answers 5xx is an ``AgentError``; a 4xx answer (a missing file, a bad path) is
the user's ``InvalidRequest`` with the agent's own message. The app routes' problem codes keep
their meaning: ``app-not-found`` is ``AppNotFound``, ``app-start-failed`` is ``AppStartFailed``
(whose message ends with the app's log).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from pydantic import TypeAdapter

from backendai.common.agent_protocol import (
    AGENT_TOKEN_HEADER,
    CommitRequest,
    DestroyResult,
    DownloadRequest,
    ImageInfo,
    ImageRemoveRequest,
    KernelCreated,
    KernelCreateRequest,
    KernelStats,
    ListFilesRequest,
    ListFilesResult,
)
from backendai.common.app_protocol import (
    AGENT_APP_START,
    AGENT_APP_STOP,
    AGENT_APP_TUNNEL,
    AGENT_APPS,
    AppInfo,
    AppStarted,
    AppStartRequest,
    AppStopped,
)
from backendai.common.batch_tasks import (
    AGENT_TASK_LOG,
    TASK_EXIT_HEADER,
    TASK_LOG_CHUNK,
    TASK_STATE_HEADER,
    TaskState,
)
from backendai.common.errors import (
    AgentError,
    AgentUnreachable,
    AppNotFound,
    AppStartFailed,
    InvalidRequest,
    PlatformError,
)
from backendai.common.private import shared_token
from backendai.common.problems import PROBLEM_HEADER, read_problem_header
from backendai.common.websockets import MAX_FRAME_SIZE
from backendai.manager.settings import ManagerSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

RELAY_CHUNK = 256 * 1024  # what a relayed answer holds in memory at most, per request
STATS_TIMEOUT = 2.0  # counters are read from files; a slower agent is left out of `rm -s`
RETRY_FIRST_PAUSE, RETRY_MAX_PAUSE = 0.2, 5.0  # seconds between tries at an unreachable agent
UNREACHABLE_RETRY_AFTER = 5  # what a user is told when the agent does not answer (restarting)
COMMIT_TIMEOUT = 1800.0  # seconds a commit of a container to an image may take
_IMAGE_LIST = TypeAdapter(list[ImageInfo])
_APP_LIST = TypeAdapter(list[AppInfo])
APPS_TIMEOUT = 5.0
_TASK_STATES: dict[str, TaskState] = {
    "not-started": "not-started", "running": "running", "finished": "finished"
}  # fmt: skip  # listing apps asks the runner; a slow agent falls back to stored ports


def load_agent_token(settings: ManagerSettings) -> str:
    """The configured token, else the one kept in the data dir (created on first use)."""
    if settings.agent_token:
        return settings.agent_token
    return shared_token(settings.agent_token_file)


@dataclass(frozen=True)
class RelayedStream:
    """An agent's answer passed on to the client as it comes, chunk by chunk (a download's
    multipart/mixed): the manager never holds more than a chunk of it."""

    content_type: str
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class TaskLogStream:
    """A batch kernel's task log from some offset, as the agent sends it (chunks of at most
    ``TASK_LOG_CHUNK`` bytes), with the task's state when the answer began."""

    state: TaskState
    exit_code: int | None
    chunks: AsyncIterator[bytes]


class AgentClient:
    def __init__(self, token: str, timeout: float, retry_window: float = 60.0) -> None:
        self.token = token
        self.retry_window = retry_window
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=10)
        self._session: aiohttp.ClientSession | None = None

    async def retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``, again while the agent is unreachable (restarting, say), with growing
        pauses, for at most ``retry_window`` seconds; then its last error. Only idempotent
        calls belong here: every kernel operation of the agent API is one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_window
        pause = RETRY_FIRST_PAUSE
        while True:
            try:
                return await call()
            except AgentUnreachable as e:
                left = deadline - loop.time()
                if left <= 0:
                    raise
                log.info("%s; trying again in %.1f s", e, min(pause, left))
                await asyncio.sleep(min(pause, left))
                pause = min(pause * 2, RETRY_MAX_PAUSE)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={AGENT_TOKEN_HEADER: self.token})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(
        self, method: str, addr: str, path: str, **kwargs: Any
    ) -> tuple[int, str, bytes]:
        url = addr.rstrip("/") + path
        kwargs.setdefault("timeout", self._timeout)
        try:
            async with self._http().request(method, url, **kwargs) as resp:
                body = await resp.read()
                status, ctype = resp.status, resp.headers.get("Content-Type", "")
        except (aiohttp.ClientError, TimeoutError) as e:
            raise unreachable(addr, f"{method} {path}", e) from e
        if status >= 400:
            raise _answer_error(addr, f"{method} {path}", status, body)
        return status, ctype, body

    async def create_kernel(self, addr: str, req: KernelCreateRequest) -> KernelCreated:
        _, _, body = await self._call("POST", addr, "/v1/kernels", json=req.model_dump(mode="json"))
        return KernelCreated.model_validate_json(body)

    async def destroy_kernel(self, addr: str, kernel_id: uuid.UUID) -> DestroyResult:
        """Idempotent: a kernel the agent does not know is already gone."""
        url = addr.rstrip("/") + f"/v1/kernels/{kernel_id}"
        try:
            async with self._http().delete(url, timeout=self._timeout) as resp:
                body = await resp.read()
                if resp.status == 404:
                    return DestroyResult(kernel_id=kernel_id)
                if resp.status >= 400:
                    raise AgentError(
                        f"The agent at {addr} could not destroy kernel {kernel_id}: {_detail(body)}"
                    )
        except (aiohttp.ClientError, TimeoutError) as e:
            raise unreachable(addr, f"DELETE /v1/kernels/{kernel_id}", e) from e
        if not body.strip():
            return DestroyResult(kernel_id=kernel_id)
        return DestroyResult.model_validate_json(body)

    async def kernel_stats(self, addr: str, kernel_id: uuid.UUID) -> KernelStats:
        _, _, body = await self._call(
            "GET", addr, f"/v1/kernels/{kernel_id}/stats",
            timeout=aiohttp.ClientTimeout(total=STATS_TIMEOUT),
        )  # fmt: skip
        return KernelStats.model_validate_json(body)

    async def restart_kernel(self, addr: str, kernel_id: uuid.UUID) -> KernelCreated | None:
        """The restarted kernel (its apps may have new host ports), if the agent says."""
        _, _, body = await self._call("POST", addr, f"/v1/kernels/{kernel_id}/restart")
        return KernelCreated.model_validate_json(body) if body.strip() else None

    async def upload(self, addr: str, kernel_id: uuid.UUID, files: list[tuple[str, bytes]]) -> None:
        form = aiohttp.FormData()  # names go percent-encoded; the agent decodes them
        for name, data in files:
            form.add_field("src", data, filename=name, content_type="application/octet-stream")
        await self._call("POST", addr, f"/v1/kernels/{kernel_id}/upload", data=form)

    @asynccontextmanager
    async def download(
        self, addr: str, kernel_id: uuid.UUID, files: list[str]
    ) -> AsyncIterator[RelayedStream]:
        """The agent's answer as it streams. The agent checks everything (a missing file, a
        FIFO, its size limit) before its first byte; those refusals are raised here."""
        path = f"/v1/kernels/{kernel_id}/download"
        payload = DownloadRequest(files=files).model_dump(mode="json")
        # No total: a big download takes what it takes; one that stalls ends at sock_read.
        timeout = aiohttp.ClientTimeout(sock_connect=10, sock_read=self._timeout.total)
        try:
            resp = await self._http().post(addr.rstrip("/") + path, json=payload, timeout=timeout)
        except (aiohttp.ClientError, TimeoutError) as e:
            raise unreachable(addr, f"POST {path}", e) from e
        async with resp:
            if resp.status >= 400:
                try:
                    body = await resp.read()
                except (aiohttp.ClientError, TimeoutError) as e:
                    raise unreachable(addr, f"POST {path}", e) from e
                if resp.status >= 500:
                    raise AgentError(f"The agent at {addr} failed (POST {path}): {_detail(body)}")
                raise InvalidRequest(_detail(body), data=None)
            ctype = resp.headers.get("Content-Type", "application/octet-stream")
            yield RelayedStream(ctype, _relayed(resp, addr, f"POST {path}"))

    async def list_files(self, addr: str, kernel_id: uuid.UUID, path: str) -> ListFilesResult:
        payload = ListFilesRequest(path=path).model_dump(mode="json")
        _, _, body = await self._call("POST", addr, f"/v1/kernels/{kernel_id}/files", json=payload)
        return ListFilesResult.model_validate_json(body)

    async def logs(self, addr: str, kernel_id: uuid.UUID) -> str:
        _, _, body = await self._call("GET", addr, f"/v1/kernels/{kernel_id}/logs")
        return body.decode("utf-8", errors="replace")

    @asynccontextmanager
    async def task_log(
        self,
        addr: str,
        kernel_id: uuid.UUID,
        *,
        offset: int = 0,
        follow: bool = False,
        read_timeout: float | None = None,
    ) -> AsyncIterator[TaskLogStream | None]:
        """The kernel's task log from byte ``offset`` (``common.batch_tasks``); None when the
        agent has none (no task, or the kernel is gone). ``follow`` goes on until the task
        ended; ``read_timeout`` bounds a silence (None: a following reader waits as long as the
        task is silent). A stream that breaks off raises ``AgentError``."""
        path = AGENT_TASK_LOG.format(kernel_id=kernel_id)
        params = {"offset": str(offset), "follow": "1" if follow else "0"}
        timeout = aiohttp.ClientTimeout(sock_connect=10, sock_read=read_timeout)
        try:
            resp = await self._http().get(addr.rstrip("/") + path, params=params, timeout=timeout)
        except (aiohttp.ClientError, TimeoutError) as e:
            raise unreachable(addr, f"GET {path}", e) from e
        async with resp:
            if resp.status == 404:
                yield None
                return
            if resp.status >= 400:
                try:
                    body = await resp.read()
                except (aiohttp.ClientError, TimeoutError) as e:
                    raise unreachable(addr, f"GET {path}", e) from e
                raise _answer_error(addr, f"GET {path}", resp.status, body)
            code = resp.headers.get(TASK_EXIT_HEADER, "")
            yield TaskLogStream(
                state=_TASK_STATES.get(resp.headers.get(TASK_STATE_HEADER, ""), "running"),
                exit_code=int(code) if code.lstrip("-").isdigit() else None,
                chunks=_relayed(resp, addr, f"GET {path}", TASK_LOG_CHUNK),
            )

    async def list_images(self, addr: str) -> list[ImageInfo]:
        _, _, body = await self._call("GET", addr, "/v1/images")
        return _IMAGE_LIST.validate_json(body)

    async def commit_kernel(self, addr: str, kernel_id: uuid.UUID, req: CommitRequest) -> ImageInfo:
        """Not retried (a commit is not idempotent in time); it takes what it takes."""
        _, _, body = await self._call(
            "POST", addr, f"/v1/kernels/{kernel_id}/commit", json=req.model_dump(mode="json"),
            timeout=aiohttp.ClientTimeout(total=COMMIT_TIMEOUT, sock_connect=10),
        )  # fmt: skip
        return ImageInfo.model_validate_json(body)

    async def remove_image(self, addr: str, image: str) -> None:
        payload = ImageRemoveRequest(image=image).model_dump(mode="json")
        await self._call("POST", addr, "/v1/images/remove", json=payload)

    async def connect_stream(
        self, addr: str, kernel_id: uuid.UUID, stream: str
    ) -> aiohttp.ClientWebSocketResponse:
        """One of the kernel's WebSockets on the agent (execute, pty); the caller closes it."""
        url = addr.rstrip("/") + f"/v1/kernels/{kernel_id}/{stream}"
        try:
            return await self._http().ws_connect(url, max_msg_size=MAX_FRAME_SIZE, autoping=True)
        except aiohttp.WSServerHandshakeError as e:
            raise AgentError(f"The agent at {addr} refused the {stream} stream: {e}") from e
        except (aiohttp.ClientError, TimeoutError) as e:
            raise unreachable(addr, f"the {stream} stream", e) from e

    # Apps (``backendai.common.app_protocol``) ------------------------------------------------

    async def list_apps(self, addr: str, kernel_id: uuid.UUID) -> list[AppInfo]:
        _, _, body = await self._call(
            "GET", addr, AGENT_APPS.format(kernel_id=kernel_id),
            timeout=aiohttp.ClientTimeout(total=APPS_TIMEOUT, sock_connect=APPS_TIMEOUT),
        )  # fmt: skip
        return _APP_LIST.validate_json(body)

    async def start_app(
        self, addr: str, kernel_id: uuid.UUID, app: str, req: AppStartRequest
    ) -> AppStarted:
        path = AGENT_APP_START.format(kernel_id=kernel_id, app=app)
        _, _, body = await self._call("POST", addr, path, json=req.model_dump(mode="json"))
        return AppStarted.model_validate_json(body)

    async def stop_app(self, addr: str, kernel_id: uuid.UUID, app: str) -> AppStopped:
        path = AGENT_APP_STOP.format(kernel_id=kernel_id, app=app)
        _, _, body = await self._call("POST", addr, path, json={})
        return AppStopped.model_validate_json(body)

    async def connect_app_tunnel(
        self, addr: str, kernel_id: uuid.UUID, app: str, req: AppStartRequest
    ) -> aiohttp.ClientWebSocketResponse:
        """The app's tunnel WebSocket (binary frames to and from the app); the caller closes
        it. The agent refuses before the upgrade, so a refusal carries only its status."""
        path = AGENT_APP_TUNNEL.format(kernel_id=kernel_id, app=app)
        query = {"arguments": json.dumps(req.arguments), "envs": json.dumps(req.envs)}
        try:
            return await self._http().ws_connect(
                addr.rstrip("/") + path, params=query, max_msg_size=MAX_FRAME_SIZE, autoping=True
            )
        except aiohttp.WSServerHandshakeError as e:
            # No body reaches us here, but the agent's problem rides in a header (with an app's
            # start log); the status alone tells the contract's refusals apart.
            detail = _handshake_detail(e)
            if e.status == 404:
                raise AppNotFound(detail or f"The session has no app {app!r}.") from e
            if e.status == 502:
                raise AppStartFailed(
                    detail or f"The app {app!r} did not start ({e.message})."
                ) from e
            raise _answer_error(addr, f"the {app} tunnel", e.status, e.message.encode()) from e
        except (aiohttp.ClientError, TimeoutError) as e:
            raise unreachable(addr, f"the {app} tunnel", e) from e


def _handshake_detail(error: aiohttp.WSServerHandshakeError) -> str | None:
    """The ``msg`` of the problem a refused upgrade carried in ``PROBLEM_HEADER``."""
    sent = error.headers.get(PROBLEM_HEADER) if error.headers is not None else None
    msg = (read_problem_header(sent) or {}).get("msg")
    return msg if isinstance(msg, str) and msg else None


def _answer_error(addr: str, what: str, status: int, body: bytes) -> PlatformError:
    """The domain error for an agent's 4xx/5xx answer."""
    code = _problem_code(body)
    if code == AppNotFound.code:
        return AppNotFound(_detail(body))
    if code == AppStartFailed.code:
        return AppStartFailed(_detail(body))
    if status >= 500:
        return AgentError(f"The agent at {addr} failed ({what}): {_detail(body)}")
    return InvalidRequest(_detail(body), data=None)


def unreachable(addr: str, what: str, e: BaseException) -> AgentError:
    """No connection, a dropped one or no answer in time: the agent may be restarting
    (retry); any other client error is a plain failure."""
    gone = isinstance(e, aiohttp.ClientConnectionError | TimeoutError)
    cls = AgentUnreachable if gone else AgentError
    return cls(
        f"The agent at {addr} could not be reached ({what}): {type(e).__name__} {e}".rstrip(),
        retry_after=UNREACHABLE_RETRY_AFTER if gone else None,
    )


async def _relayed(
    resp: aiohttp.ClientResponse, addr: str, what: str, size: int = RELAY_CHUNK
) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.content.iter_chunked(size):
            yield chunk
    except (aiohttp.ClientError, TimeoutError) as e:  # cut off: the agent's stream failed
        raise AgentError(
            f"The agent at {addr} broke off its answer ({what}): {type(e).__name__} {e}"
        ) from e


def _problem_code(body: bytes) -> str | None:
    """The slug of a problem JSON's ``type`` (``.../probs/app-not-found``), if it has one."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    kind = doc.get("type") if isinstance(doc, dict) else None
    return kind.rstrip("/").rsplit("/", 1)[-1] if isinstance(kind, str) and kind else None


def _detail(body: bytes) -> str:
    """The human part of an agent's problem JSON, or the start of its text."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return text[:500] or "(empty answer)"
    if isinstance(doc, dict):
        msg = doc.get("msg") or doc.get("title") or doc.get("error")
        if isinstance(msg, str) and msg:
            return msg
    return text[:500]
