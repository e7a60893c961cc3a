"""The API edge's error rendering: domain errors become RFC 7807 problem JSON.

This is the only place that knows which HTTP status each error class means; the manager,
the webserver and the other HTTP processes all render errors through it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from backendai.common import errors

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://api.backend.ai/probs/"
# A refused WebSocket handshake: clients (aiohttp's ws_connect among them) read only the status
# and headers, so the problem travels in this header too, percent-encoded JSON, its detail cut
# to fit a header (the end of an app's start log is what a user needs to see).
PROBLEM_HEADER = "X-BackendAI-Problem"
_HEADER_DETAIL = 2000

# Most specific first: the first matching class decides the status.
_STATUS: list[tuple[type[errors.PlatformError], int]] = [
    (errors.TooManyRequests, 429),
    (errors.VFolderQuotaExceeded, 413),
    (errors.InvalidRequest, 400),
    (errors.Conflict, 409),
    (errors.AuthenticationFailed, 401),
    (errors.PermissionDenied, 403),
    (errors.NotFound, 404),
    (errors.GraphQLError, 400),
    (errors.AgentUnreachable, 503),  # down for now (restarting): Retry-After says when
    (errors.AgentError, 502),
    (errors.ServiceUnavailable, 503),
    (errors.ConfigurationError, 500),
    (errors.InternalError, 500),
]

_HTTP_SLUGS = {
    400: ("generic-bad-request", "Bad request."),
    401: ("auth-failed", "Authentication required."),
    403: ("generic-forbidden", "Forbidden."),
    404: ("generic-not-found", "Unknown URL path."),
    405: ("method-not-allowed", "Method not allowed."),
    413: ("request-too-large", "The request body is too large."),
    429: ("too-many-requests", "Too many requests."),
}


def status_of(error: errors.PlatformError) -> int:
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 500


def problem_response(
    status: int, code: str, title: str, msg: str | None = None, data: Any = None
) -> web.Response:
    body: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": title}
    if msg is not None:
        body["msg"] = msg
    if data is not None:
        body["data"] = data
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )


def render_error(error: errors.PlatformError) -> web.Response:
    response = problem_response(status_of(error), error.code, error.title, error.msg, error.data)
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, error.retry_after))
    return response


def problem_header(error: errors.PlatformError) -> str:
    msg = error.msg or ""
    if len(msg) > _HEADER_DETAIL:
        msg = msg[:300] + "\n…\n" + msg[-(_HEADER_DETAIL - 300) :]
    body = {"type": PROBLEM_BASE + error.code, "title": error.title, "msg": msg}
    return quote(json.dumps(body), safe="")


def read_problem_header(value: str | None) -> dict[str, Any] | None:
    """The problem a refused upgrade carried in ``PROBLEM_HEADER``, if it is one."""
    if not value:
        return None
    try:
        problem = json.loads(unquote(value))
    except ValueError:
        return None
    return problem if isinstance(problem, dict) else None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into problem JSON; a bug becomes a 500 that leaks nothing."""
    try:
        return await handler(request)
    except errors.PlatformError as e:
        if status_of(e) >= 500:
            log.error("%s %s failed: %s", request.method, request.path, e)
        response = render_error(e)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            response.headers[PROBLEM_HEADER] = problem_header(e)
        return response
    except web.HTTPException as e:
        if e.status < 400:
            raise
        code, title = _HTTP_SLUGS.get(e.status, ("generic-error", e.reason))
        return problem_response(e.status, code, title, f"{request.method} {request.path}")
    except (RequestPayloadError, HttpProcessingError) as e:
        # The body could not be read as sent (a Content-Encoding that does not decode, broken
        # chunked framing): the client's mistake, raised by aiohttp wherever a handler reads it.
        return _unreadable_body(e)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return problem_response(
            500,
            "internal-server-error",
            "Internal server error.",
            "The server hit an unexpected error; it has been logged.",
        )


def _unreadable_body(error: Exception) -> web.Response:
    cause = error if isinstance(error, HttpProcessingError) else error.__cause__
    status = 400
    if isinstance(cause, HttpProcessingError):
        status = cause.code if 400 <= cause.code < 500 else 400
        reason = cause.message.strip() or type(cause).__name__
    else:
        reason = str(error) or type(error).__name__
    code, title = _HTTP_SLUGS.get(status, ("generic-bad-request", "Bad request."))
    return problem_response(
        status, code, title, f"The request body could not be read: {reason[:200]}."
    )
