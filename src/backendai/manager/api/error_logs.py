"""``/logs/error`` (``server-logs list``), and the middleware that fills the error log with
every 5xx answer of the manager.

A deliberate refusal that happens to be a 5xx (a frozen manager's 503) is an answer, not an
error, and is not recorded; nor is a transient 503 that tells the client when to try again (a
locked database, an agent restarting): writing it would wait on the very database that is busy,
and a client retrying through an outage would add a row per try.
"""

from __future__ import annotations

import traceback
import uuid

from aiohttp import web
from pydantic import BaseModel, Field

from backendai.common.errors import AgentError, PlatformError, ServerFrozen
from backendai.common.problems import Handler, status_of
from backendai.manager.api.auth import PRINCIPAL_KEY, principal_of
from backendai.manager.api.params import parse_params
from backendai.manager.context import CONTEXT_KEY, context_of
from backendai.manager.services.error_logs import MAX_PAGE_SIZE, ErrorReport

_NOT_ERRORS = (ServerFrozen,)


class ListParams(BaseModel):
    mark_read: bool = False
    page_size: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE)
    page_no: int = Field(default=1, ge=1, le=1_000_000)


async def list_logs(request: web.Request) -> web.Response:
    """GET ``?mark_read=True&page_size=20&page_no=1``: ``{"logs": [...], "count": n}``."""
    p = await parse_params(request, ListParams)
    result = await context_of(request).error_logs.list(
        principal_of(request), page_size=p.page_size, page_no=p.page_no, mark_read=p.mark_read
    )
    return web.json_response(result)


async def clear(request: web.Request) -> web.Response:
    try:
        log_id = uuid.UUID(request.match_info["name"])  # {name}: the one path parameter
    except ValueError:
        raise web.HTTPNotFound() from None
    await context_of(request).error_logs.clear(principal_of(request), log_id)
    return web.json_response({"success": True})


async def _record(
    request: web.Request, status: int, message: str, source: str, trace: str | None
) -> None:
    ctx = request.app.get(CONTEXT_KEY)
    if ctx is None:
        return
    principal = request.get(PRINCIPAL_KEY)
    await ctx.error_logs.record(ErrorReport(
        message=message, source=source, user=principal.user_uuid if principal else None,
        request_url=f"{request.method} {request.rel_url}", request_status=status,
        traceback=trace,
    ))  # fmt: skip


@web.middleware
async def record_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inside the problem middleware: sees the error itself (and its traceback)."""
    try:
        response = await handler(request)
    except PlatformError as e:
        status = status_of(e)
        if status >= 500 and not isinstance(e, _NOT_ERRORS) and e.retry_after is None:
            source = "agent" if isinstance(e, AgentError) else "manager"
            await _record(request, status, f"{e.title} {e.msg or ''}".strip(), source, None)
        raise
    except web.HTTPException:
        raise
    except Exception as e:
        await _record(request, 500, f"{type(e).__name__}: {e}", "manager", traceback.format_exc())
        raise
    if response.status >= 500:
        await _record(request, response.status, response.reason or "", "manager", None)
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/logs/error", list_logs)
    app.router.add_post("/logs/error/{name}/clear", clear)
