"""One API request: URL mapping, headers, signing, sending, and error mapping.

* keypair mode (``api``): ``{endpoint}/{path}``, signed with the configured keypair
  (``backendai.common.signing``) over the endpoint's netloc and the raw path+query as sent;
* session mode: ``{endpoint}/func/{path}`` (except ``/server/*``), never signed; the login
  cookie rides in the session's cookie jar.

Streams (WebSockets and server-sent events, ``streaming=True``) send no ``Content-Type``
header; they are signed with ``application/octet-stream``, which is what the server sees.

A non-2xx answer raises :class:`BackendAPIError` with the parsed problem JSON; a failure to
get any answer raises :class:`BackendClientError` after every configured endpoint was tried.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from uuid import UUID

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from backendai.client.config import format_api_version
from backendai.client.exceptions import BackendAPIError, BackendClientError
from backendai.common.signing import signed_headers

if TYPE_CHECKING:
    from backendai.client.session import AsyncSession

__all__ = ["STREAM_CONTENT_TYPE", "Request", "Response", "build_url", "endpoint_host"]

QueryParams = Mapping[str, str | int | float]
STREAM_CONTENT_TYPE = "application/octet-stream"
WS_HEARTBEAT = 30.0  # seconds between pings, like the official client


def endpoint_host(endpoint: str) -> str:
    """The ``host[:port]`` that signatures are keyed on: the ``Host`` header sent.

    That is the endpoint's netloc, except that an explicit default port (``http://h:80``)
    is dropped and the host is lower-cased, as the HTTP client does for the header. (The
    official client signs the netloc as written, which a strict server rejects then.)
    """
    host = URL(endpoint).host_port_subcomponent
    return host if host is not None else urlsplit(endpoint).netloc


def build_url(
    endpoint: str, endpoint_type: str, path: str, params: QueryParams | None = None
) -> URL:
    """The full URL of API path ``path`` (``/folders``, ``server/login``, ``/``) on ``endpoint``.

    In session mode every API path goes under ``/func/`` except the webserver's own
    ``/server/*`` routes; a path prefix of the endpoint (``https://h/proxy``) is kept.
    """
    base = URL(endpoint)
    query_path = path.lstrip("/")
    if endpoint_type == "session" and not query_path.startswith("server"):
        query_path = f"func/{query_path}"
    url = base.with_path(f"{base.path.rstrip('/')}/{query_path}")
    if params:
        url = url.with_query({k: str(v) for k, v in params.items()})
    return url


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal | Path | UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


@dataclass
class Response:
    """A fully read answer."""

    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes
    cookies: SimpleCookie
    url: URL

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON (key order kept); BackendClientError when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError as e:
            snippet = self.text()[:200]
            raise BackendClientError(
                f"The server's answer to {self.url} is not JSON "
                f"(HTTP {self.status}, {self.content_type or 'no content type'}): {snippet!r}"
            ) from e


class Request:
    """An API request bound to an open :class:`AsyncSession`.

    ``json`` sets a JSON body (also allowed on GET and DELETE, as the API expects);
    ``content`` sets a raw body with ``content_type`` (default ``text/plain``);
    ``multipart`` sends a multipart body (file uploads); ``streaming`` marks a WebSocket or
    event-stream request (no body, no ``Content-Type``).
    """

    def __init__(
        self,
        session: AsyncSession,
        method: str,
        path: str,
        *,
        params: QueryParams | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        content_type: str | None = None,
        multipart: aiohttp.MultipartWriter | None = None,
        streaming: bool = False,
    ) -> None:
        self.session = session
        self.method = method.upper()
        self.path = path
        self.params = params
        self.streaming = streaming
        self.body: bytes | aiohttp.MultipartWriter
        if json is not None:
            self.body = _dumps(json)
            self.content_type = "application/json"
        elif multipart is not None:
            self.body = multipart
            self.content_type = multipart.content_type  # with the boundary
        else:
            self.body = content.encode() if isinstance(content, str) else (content or b"")
            self.content_type = content_type or "text/plain"

    def url_for(self, endpoint: str) -> URL:
        return build_url(endpoint, self.session.config.endpoint_type, self.path, self.params)

    def headers_for(
        self, endpoint: str, url: URL, *, anonymous: bool = False, now: datetime | None = None
    ) -> CIMultiDict[str]:
        """Every header of the request; signed in keypair mode unless ``anonymous``."""
        now = now or datetime.now(UTC)
        config = self.session.config
        version = format_api_version(self.session.api_version)
        headers: CIMultiDict[str] = CIMultiDict()
        headers["User-Agent"] = config.user_agent
        headers["X-BackendAI-Domain"] = config.domain
        if self.streaming:
            bare_type = STREAM_CONTENT_TYPE
        else:
            headers["Content-Type"] = self.content_type
            bare_type = self.content_type.split(";")[0].strip().lower()
        if config.endpoint_type == "api" and not config.is_anonymous and not anonymous:
            headers.update(
                signed_headers(
                    config.access_key,
                    config.secret_key,
                    method=self.method,
                    rel_url=url.raw_path_qs,
                    host=endpoint_host(endpoint),
                    content_type=bare_type,
                    api_version=version,
                    now=now,
                )
            )
        else:
            headers["Date"] = now.isoformat()
            headers["X-BackendAI-Version"] = version
        return headers

    async def fetch(self, *, anonymous: bool = False) -> Response:
        """Send the request and read the whole answer."""
        async with self.stream(anonymous=anonymous) as raw:
            try:
                body = await raw.read()
            except (aiohttp.ClientError, TimeoutError) as e:
                raise BackendClientError(f"Reading the answer from {raw.url} failed: {e}") from e
            return Response(
                status=raw.status,
                reason=raw.reason or "",
                headers=raw.headers,
                body=body,
                cookies=raw.cookies,
                url=raw.url,
            )

    @asynccontextmanager
    async def stream(self, *, anonymous: bool = False) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send the request and yield the raw answer (2xx only) for streamed reading."""
        raw = await self._send(anonymous=anonymous)
        try:
            if raw.status // 100 != 2:
                text = await raw.text(errors="replace")
                raise BackendAPIError(raw.status, raw.reason or "", text)
            yield raw
        finally:
            raw.release()

    @asynccontextmanager
    async def connect_websocket(self) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        """Open a WebSocket (``GET`` upgraded) and yield it; it is closed on exit.

        A refused handshake raises BackendAPIError with the HTTP status (the server's
        problem body is not available through the WebSocket handshake).
        """
        session = self.session
        attempts = len(session.config.endpoints)
        ws: aiohttp.ClientWebSocketResponse | None = None
        for attempt in range(attempts):
            endpoint = session.current_endpoint
            url = self.url_for(endpoint)
            headers = self.headers_for(endpoint, url)
            try:
                ws = await session.http.ws_connect(
                    url,
                    headers=headers,
                    autoping=True,
                    heartbeat=WS_HEARTBEAT,
                    max_msg_size=0,  # execution output frames can be large
                )
                break
            except aiohttp.WSServerHandshakeError as e:
                reason = _reason_phrase(e.status, e.message)
                raise BackendAPIError(e.status, reason, _handshake_problem(url, e)) from e
            except (aiohttp.ClientConnectionError, TimeoutError) as e:
                if attempt + 1 < attempts:
                    session.rotate_endpoint()
                    continue
                raise BackendClientError(_connection_message(endpoint, e)) from e
            except aiohttp.ClientError as e:
                raise BackendClientError(f"The WebSocket to {url} failed: {e}") from e
        assert ws is not None
        try:
            yield ws
        finally:
            await ws.close()

    async def _send(self, *, anonymous: bool) -> aiohttp.ClientResponse:
        session = self.session
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=session.config.connection_timeout or None,
            sock_read=session.config.read_timeout or None,
        )
        attempts = len(session.config.endpoints)
        for attempt in range(attempts):
            endpoint = session.current_endpoint
            url = self.url_for(endpoint)
            headers = self.headers_for(endpoint, url, anonymous=anonymous)
            try:
                return await session.http.request(
                    self.method,
                    url,
                    # No body at all on streams: aiohttp would add a Content-Type for one.
                    data=None if self.streaming else self.body,
                    headers=headers,
                    timeout=timeout,
                )
            except (aiohttp.ClientConnectionError, TimeoutError) as e:
                if attempt + 1 < attempts:
                    session.rotate_endpoint()
                    continue
                raise BackendClientError(_connection_message(endpoint, e)) from e
            except aiohttp.ClientError as e:
                raise BackendClientError(f"The request to {url} failed: {e}") from e
        raise AssertionError("unreachable")  # pragma: no cover


def _reason_phrase(status: int, fallback: str) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return fallback


def _handshake_problem(url: URL, error: aiohttp.WSServerHandshakeError) -> dict[str, Any]:
    from backendai.common.problems import PROBLEM_HEADER, read_problem_header

    problem = read_problem_header(error.headers.get(PROBLEM_HEADER) if error.headers else None)
    if problem is not None and isinstance(problem.get("title"), str):
        return problem
    slug = {401: "auth-failed", 403: "generic-forbidden", 404: "generic-not-found"}.get(
        error.status, "generic-bad-request"
    )
    return {
        "type": f"https://api.backend.ai/probs/{slug}",
        "title": f"The server refused the WebSocket connection to {url.path}.",
    }


def _dumps(value: Any) -> bytes:
    return json.dumps(value, default=_json_default).encode()


def _connection_message(endpoint: str, error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        detail = "the connection timed out"
    else:
        detail = str(error) or type(error).__name__
    return (
        f"Cannot reach the API endpoint {endpoint} ({detail}). "
        "Check BACKEND_ENDPOINT and that the server is running."
    )
