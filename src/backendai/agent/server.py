"""The agent's HTTP API (``/v1/...``), called by the manager with the shared agent token.

Handlers are thin: parse the payload (``backendai.common.agent_protocol``), call the kernel
registry or the file operations, render. Errors become problem JSON in ``problem_middleware``.
"""

from __future__ import annotations

import contextlib
import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, TypeAdapter, ValidationError

from backendai.agent import apps, image_commit, terminal, transfers
from backendai.agent import execute as execution
from backendai.agent.backends.protocol import ContainerBackend
from backendai.agent.batch_tasks import TaskLogQuery
from backendai.agent.file_work import FileWork
from backendai.agent.kernels import KernelRegistry
from backendai.agent.resources import Capacity
from backendai.agent.settings import AgentSettings
from backendai.common.agent_protocol import (
    AGENT_TOKEN_HEADER,
    CommitRequest,
    ContainerInfo,
    DownloadRequest,
    ImageInfo,
    ImageRemoveRequest,
    KernelCreateRequest,
    ListFilesRequest,
)
from backendai.common.app_protocol import (
    AGENT_APP_START,
    AGENT_APP_STOP,
    AGENT_APP_TUNNEL,
    AGENT_APPS,
    TICKET_QUERY,
    AppInfo,
    AppStartRequest,
    tunnel_ticket_allows,
)
from backendai.common.batch_tasks import AGENT_TASK_LOG, TASK_EXIT_HEADER, TASK_STATE_HEADER
from backendai.common.errors import AuthenticationFailed, InvalidRequest

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_CONTAINER_LIST = TypeAdapter(list[ContainerInfo])
_IMAGE_LIST = TypeAdapter(list[ImageInfo])
_APP_LIST = TypeAdapter(list[AppInfo])


@dataclass
class AgentContext:
    settings: AgentSettings
    backend: ContainerBackend
    registry: KernelRegistry
    capacity: Capacity
    file_work: FileWork | None = None  # made on first use, closed with the app


CONTEXT_KEY = web.AppKey("agent_context", AgentContext)


def token_middleware(token: str) -> Middleware:
    """Every route takes the agent token; the app tunnel also a ticket for its kernel and app
    (app proxies hold tickets, never the token), and no other route ever takes one."""
    expected = token.encode()

    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get(AGENT_TOKEN_HEADER, "").encode()
        if hmac.compare_digest(given, expected):
            return await handler(request)
        ticket = request.query.get(TICKET_QUERY)
        if ticket is not None and _is_tunnel(request):
            if _ticket_allows(token, ticket, request):
                return await handler(request)
            raise AuthenticationFailed("The ticket is not one for this app, or it expired.")
        raise AuthenticationFailed(f"Missing or wrong {AGENT_TOKEN_HEADER} header.")

    return check_token


def _is_tunnel(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    return (
        request.method == "GET" and resource is not None and resource.canonical == AGENT_APP_TUNNEL
    )


def _ticket_allows(token: str, ticket: str, request: web.Request) -> bool:
    try:
        kernel_id = uuid.UUID(request.match_info["kernel_id"])
    except ValueError:
        return False
    return tunnel_ticket_allows(token, ticket, kernel_id, request.match_info["app"])


async def _parse(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.read() or b"{}")
    except ValidationError as e:
        raise InvalidRequest(f"Invalid request: {_problems(e)}") from e


def _parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as e:
        raise InvalidRequest(f"Invalid query parameters: {_problems(e)}") from e


def _problems(e: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in e.errors()
    )


def _registry(request: web.Request) -> KernelRegistry:
    return request.app[CONTEXT_KEY].registry


def _kernel_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["kernel_id"])
    except ValueError:
        raise InvalidRequest("The kernel id must be a UUID.") from None


def _file_work(request: web.Request) -> FileWork:
    """The pool for kernels' file work, never asyncio's shared default executor."""
    ctx = request.app[CONTEXT_KEY]
    if ctx.file_work is None:
        s = ctx.settings
        ctx.file_work = FileWork(s.file_workers, s.file_ops_per_kernel, s.file_op_timeout)
    return ctx.file_work


async def _close_file_work(app: web.Application) -> None:
    ctx = app.get(CONTEXT_KEY)
    if ctx is not None and ctx.file_work is not None:
        ctx.file_work.close()


def _json(model: BaseModel) -> web.Response:
    return web.Response(text=model.model_dump_json(), content_type="application/json")


async def create_kernel(request: web.Request) -> web.Response:
    req = await _parse(request, KernelCreateRequest)
    return _json(await _registry(request).create(req))


async def list_kernels(request: web.Request) -> web.Response:
    infos = await _registry(request).container_infos()
    return web.Response(body=_CONTAINER_LIST.dump_json(infos), content_type="application/json")


async def destroy_kernel(request: web.Request) -> web.Response:
    return _json(await _registry(request).destroy(_kernel_id(request)))


async def kernel_stats(request: web.Request) -> web.Response:
    return _json(await _registry(request).stats(_kernel_id(request)))


async def restart_kernel(request: web.Request) -> web.Response:
    return _json(await _registry(request).restart(_kernel_id(request)))


async def execute(request: web.Request) -> web.StreamResponse:
    registry = _registry(request)
    return await execution.execute(request, registry, registry.get(_kernel_id(request)))


async def pty(request: web.Request) -> web.StreamResponse:
    registry = _registry(request)
    return await terminal.terminal(request, registry, registry.get(_kernel_id(request)))


async def upload(request: web.Request) -> web.Response:
    """multipart/form-data, one ``src`` part per file; the filename is relative to /home/work."""
    kernel_id = _kernel_id(request)
    files = _registry(request).files(kernel_id)
    if await transfers.receive_upload(request, _file_work(request), kernel_id, files) == 0:
        raise InvalidRequest("No files to upload.")
    return web.Response(status=204)


async def download(request: web.Request) -> web.StreamResponse:
    """multipart/mixed, one part per file: a tar of it (or of the directory) under its name."""
    req = await _parse(request, DownloadRequest)
    kernel_id = _kernel_id(request)
    files = _registry(request).files(kernel_id)
    limit = request.app[CONTEXT_KEY].settings.download_max_size
    work = _file_work(request)
    return await transfers.send_download(request, work, kernel_id, files, req.files, limit)


async def list_files(request: web.Request) -> web.Response:
    req = await _parse(request, ListFilesRequest)
    kernel_id = _kernel_id(request)
    files = _registry(request).files(kernel_id)
    cap = request.app[CONTEXT_KEY].settings.list_max_entries
    result = await _file_work(request).run(
        kernel_id, f"Listing {req.path}", lambda deadline: files.list_dir(req.path, deadline, cap)
    )
    return _json(result)


async def logs(request: web.Request) -> web.Response:
    registry = _registry(request)
    kernel = registry.get(_kernel_id(request))
    return web.Response(text=await registry.backend.logs(kernel.container_id))


async def task_log(request: web.Request) -> web.StreamResponse:
    """A batch task's log as text, streamed (``common.batch_tasks``)."""
    registry, kernel_id = _registry(request), _kernel_id(request)
    registry.get(kernel_id)  # 404 for a kernel that is not here, as on every kernel route
    query = _parse_query(request, TaskLogQuery)
    tasks = registry.tasks
    state, exit_code = tasks.state(kernel_id)
    response = web.StreamResponse(headers={TASK_STATE_HEADER: state})
    if exit_code is not None:
        response.headers[TASK_EXIT_HEADER] = str(exit_code)
    response.content_type, response.charset = "text/plain", "utf-8"
    response.enable_chunked_encoding()
    await response.prepare(request)
    async with contextlib.aclosing(tasks.read(kernel_id, query.offset, query.follow)) as chunks:
        async for chunk in chunks:
            await response.write(chunk)
    await response.write_eof()
    return response


async def list_images(request: web.Request) -> web.Response:
    infos = await _registry(request).backend.images()
    return web.Response(body=_IMAGE_LIST.dump_json(infos), content_type="application/json")


async def commit_kernel(request: web.Request) -> web.Response:
    req = await _parse(request, CommitRequest)
    return _json(await image_commit.commit(_registry(request), _kernel_id(request), req))


async def remove_image(request: web.Request) -> web.Response:
    req = await _parse(request, ImageRemoveRequest)
    await image_commit.remove(_registry(request).backend, req.image)
    return web.Response(status=204)


async def list_apps(request: web.Request) -> web.Response:
    infos = await apps.list_apps(_registry(request).get(_kernel_id(request)))
    return web.Response(body=_APP_LIST.dump_json(infos), content_type="application/json")


async def start_app(request: web.Request) -> web.Response:
    kernel = _registry(request).get(_kernel_id(request))
    req = await _parse(request, AppStartRequest)
    return _json(await apps.start_app(kernel, request.match_info["app"], req))


async def stop_app(request: web.Request) -> web.Response:
    kernel = _registry(request).get(_kernel_id(request))
    return _json(await apps.stop_app(kernel, request.match_info["app"]))


async def app_tunnel(request: web.Request) -> web.StreamResponse:
    kernel = _registry(request).get(_kernel_id(request))
    return await apps.tunnel(request, kernel, request.match_info["app"])


def setup_routes(app: web.Application) -> None:
    app.on_cleanup.append(_close_file_work)
    r = app.router
    r.add_post("/v1/kernels", create_kernel)
    r.add_get("/v1/kernels", list_kernels)
    r.add_delete("/v1/kernels/{kernel_id}", destroy_kernel)
    r.add_post("/v1/kernels/{kernel_id}/restart", restart_kernel)
    r.add_get("/v1/kernels/{kernel_id}/stats", kernel_stats)
    r.add_get("/v1/kernels/{kernel_id}/execute", execute)
    r.add_get("/v1/kernels/{kernel_id}/pty", pty)
    r.add_post("/v1/kernels/{kernel_id}/upload", upload)
    r.add_post("/v1/kernels/{kernel_id}/download", download)
    r.add_post("/v1/kernels/{kernel_id}/files", list_files)
    r.add_get("/v1/kernels/{kernel_id}/logs", logs)
    r.add_get(AGENT_TASK_LOG, task_log)
    r.add_post("/v1/kernels/{kernel_id}/commit", commit_kernel)
    r.add_get(AGENT_APPS, list_apps)
    r.add_post(AGENT_APP_START, start_app)
    r.add_post(AGENT_APP_STOP, stop_app)
    r.add_get(AGENT_APP_TUNNEL, app_tunnel)
    r.add_get("/v1/images", list_images)
    r.add_post("/v1/images/remove", remove_image)
