"""``GET /session/_/logs?taskId=<uuid>[&follow=0|1][&offset=N]``: a batch task's log, as raw text
(API_CONTRACT §2.12, ``common.batch_tasks``). Registered before ``/session/{name}/logs``,
which would otherwise take ``_`` for a session name."""

from __future__ import annotations

import uuid
from contextlib import aclosing

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from backendai.common.batch_tasks import SESSION_TASK_LOGS
from backendai.common.streaming import abort_response
from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import parse_params
from backendai.manager.context import context_of


class TaskLogParams(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    task_id: uuid.UUID = Field(
        alias="taskId", description="The batch session's id (ps -f task_id), or its kernel's."
    )
    follow: bool = Field(
        default=True, description="1: go on until the task ended; 0: what there is now."
    )
    offset: int = Field(
        default=0,
        ge=0,
        le=2**62,
        description="Start at this byte of the log (ours): a viewer asks only for what is new.",
    )


def _client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def task_logs(request: web.Request) -> web.StreamResponse:
    params = await parse_params(request, TaskLogParams)
    reader = context_of(request).task_logs
    session_id = await reader.find(principal_of(request), params.task_id)
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        async with aclosing(
            reader.stream(session_id, follow=params.follow, offset=params.offset)
        ) as chunks:
            async for chunk in chunks:
                if chunk:
                    await response.write(chunk)
                elif _client_gone(request):  # a wait for the session to start: still wanted?
                    return response
        await response.write_eof()
    except ConnectionError:  # the client went away
        abort_response(request)
    except BaseException:  # a broken-off log must not look complete
        abort_response(request)
        raise
    return response


def setup(app: web.Application) -> None:
    app.router.add_get(SESSION_TASK_LOGS, task_logs)
