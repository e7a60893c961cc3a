"""The apps of a compute session (ttyd, sshd, jupyter, ...) and the local proxy that reaches them.

* ``GET /stream/session/{ref}/apps`` lists them (API_CONTRACT §3.1);
* ``GET /stream/session/{ref}/tcpproxy?app=NAME&arguments=..&envs=..`` is a WebSocket that
  carries ONE TCP connection to the app as binary frames (§3.2). :class:`LocalAppProxy`
  listens on a local port and opens one such WebSocket per accepted connection, so that any
  TCP client (a browser, ``ssh``, ``psql``) reaches the app as if it ran locally;
* ``SESSION_APP_OPEN`` / ``SESSION_APP_ROUTES`` open, close and list browser routes served by
  the platform's app proxy (``backendai.common.app_protocol``).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import string
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

import aiohttp

from backendai.client.exceptions import BackendAPIError, BackendClientError, BackendError
from backendai.client.func.binding import M, api_function
from backendai.client.func.session_base import SessionBase
from backendai.client.request import Request

if TYPE_CHECKING:  # the models need pydantic, which `run` and friends should not pay for
    from backendai.client.session import AsyncSession
    from backendai.common.app_protocol import AppArguments, AppOpened

__all__ = [
    "AppFunctions",
    "LocalAppProxy",
    "app_url",
    "parse_app_arguments",
    "parse_app_envs",
]

# Bytes read from a local connection per WebSocket frame: large enough that a bulk transfer
# (scp, a notebook download) costs few frames, far below every hop's frame limit (16 MiB).
RELAY_CHUNK = 256 * 1024
SCHEMES = {"http": "http", "preopen": "http", "tcp": "tcp", "pty": "http"}


def parse_app_arguments(lines: Sequence[str]) -> AppArguments:
    """``--arg`` values as the server wants them (§3.2): ``"--foo bar"`` -> ``{"--foo":
    "bar"}``, ``"--flag"`` -> ``{"--flag": None}``, ``"--foo a b"`` -> a list. ``--foo=bar``
    is split at the first ``=``; the same option in several ``--arg`` adds up to a list."""
    result: AppArguments = {}
    for line in lines:
        try:
            tokens = shlex.split(line)
        except ValueError as e:
            raise BackendClientError(f"Cannot parse the argument {line!r}: {e}") from e
        if not tokens:
            raise BackendClientError("An empty --arg was given.")
        name, sep, first = tokens[0].partition("=")
        values = ([first] if sep else []) + tokens[1:]
        value: str | list[str] | None
        value = None if not values else values[0] if len(values) == 1 else values
        if name in result and value is not None:
            old = result[name]
            merged = [] if old is None else [old] if isinstance(old, str) else list(old)
            value = merged + (value if isinstance(value, list) else [value])
        result[name] = value
    return result


def parse_app_envs(lines: Sequence[str]) -> dict[str, str]:
    """``-e K=V`` values; ``K`` alone means an empty value (as the official client does)."""
    envs: dict[str, str] = {}
    for line in lines:
        key, _, value = line.strip().partition("=")
        if not key:
            raise BackendClientError(f"An environment variable needs a name: {line!r}")
        envs[key] = value
    return envs


def app_url(info: Mapping[str, Any], host: str, port: int, protocol: str | None = None) -> str:
    """Where the user reaches an app proxied on ``host:port``: the app's ``url_template`` if
    it has one, else ``SCHEME://HOST:PORT`` with the scheme of ``protocol`` (or the app's)."""
    proto = protocol or str(info.get("protocol") or "tcp")
    scheme = SCHEMES.get(proto, proto)
    shown = f"[{host}]" if ":" in host else host
    template = info.get("url_template")
    if isinstance(template, str) and template:
        fields = {"protocol": scheme, "host": shown, "port": port}
        # A template naming other fields keeps them as written rather than failing.
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        if names <= fields.keys():
            return template.format(**fields)
    return f"{scheme}://{shown}:{port}"


class AppFunctions(SessionBase[M]):
    """The app functions of a compute session (mixed into ComputeSession)."""

    @api_function
    async def stream_app_info(self) -> list[dict[str, Any]]:
        """The session's apps: ``[{"name", "protocol", "ports", ...}]`` (§3.1)."""
        path = f"/stream/session/{self.stream_ref}/apps"
        resp = await Request(self.session, "GET", path, params=self._owner_params()).fetch()
        data = resp.json()
        if not isinstance(data, list):
            raise BackendClientError(f"The server's app list is not a list: {data!r}")
        return [item for item in data if isinstance(item, dict) and "name" in item]

    def open_tcpproxy(
        self,
        app: str,
        arguments: AppArguments | None = None,
        envs: Mapping[str, str] | None = None,
    ) -> AbstractAsyncContextManager[aiohttp.ClientWebSocketResponse]:
        """One TCP connection to ``app`` as a WebSocket of binary frames (async sessions
        only). A refused handshake raises :class:`BackendAPIError`."""
        params: dict[str, str] = {"app": app, **self._owner_params()}
        if arguments:
            params["arguments"] = json.dumps(arguments)
        if envs:
            params["envs"] = json.dumps(dict(envs))
        return _connect(self.session, f"/stream/session/{self.stream_ref}/tcpproxy", params)

    @api_function
    async def open_app(
        self,
        app: str,
        *,
        open_to_public: bool = False,
        preferred_port: int | None = None,
        arguments: AppArguments | None = None,
        envs: Mapping[str, str] | None = None,
    ) -> AppOpened:
        """Open ``app`` to browsers through the platform's app proxy; its URL carries the
        route's token unless ``open_to_public``. Reopening returns the same route."""
        from backendai.common.app_protocol import SESSION_APP_OPEN, AppOpened, AppOpenRequest

        body = AppOpenRequest(
            open_to_public=open_to_public,
            preferred_port=preferred_port,
            arguments=dict(arguments or {}),
            envs=dict(envs or {}),
        )
        path = SESSION_APP_OPEN.format(name=self.ref, app=app)
        rqst = Request(
            self.session, "POST", path, params=self._owner_params(), json=body.model_dump()
        )
        return AppOpened.model_validate((await rqst.fetch()).json())

    @api_function
    async def close_app(self, app: str) -> None:
        """Close ``app``'s browser route and stop the app."""
        from backendai.common.app_protocol import SESSION_APP_OPEN

        path = SESSION_APP_OPEN.format(name=self.ref, app=app)
        await Request(self.session, "DELETE", path, params=self._owner_params()).fetch()

    @api_function
    async def app_routes(self) -> list[AppOpened]:
        """The session's open browser routes."""
        from backendai.common.app_protocol import SESSION_APP_ROUTES, AppOpened

        path = SESSION_APP_ROUTES.format(name=self.ref)
        data = (
            await Request(self.session, "GET", path, params=self._owner_params()).fetch()
        ).json()
        if not isinstance(data, list):
            raise BackendClientError(f"The server's route list is not a list: {data!r}")
        return [AppOpened.model_validate(item) for item in data]


@asynccontextmanager
async def _connect(
    session: AsyncSession, path: str, params: dict[str, str]
) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    async with Request(
        session, "GET", path, params=params, streaming=True
    ).connect_websocket() as ws:
        yield ws


def _refusal(reason: str) -> bytes:
    """What a local peer reads when the tunnel cannot be opened: an HTTP answer, because the
    peer is most often a browser; other clients just see the connection end."""
    body = f"WebSocket reply: {reason}\n".encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Connection: close\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BackendAPIError):
        data = exc.data
        detail = data.get("msg") or data.get("title") or ""
        return f"{exc.status} {exc.reason}" + (f": {detail}" if detail else "")
    return str(exc) or type(exc).__name__


class LocalAppProxy:
    """Listens on ``host:port`` and relays each accepted connection to ``app`` over a
    tcpproxy WebSocket of its own; ``on_error`` hears about every tunnel that failed."""

    def __init__(
        self,
        compute_session: AppFunctions[Any],
        app: str,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        arguments: AppArguments | None = None,
        envs: Mapping[str, str] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.compute_session = compute_session
        self.app = app
        self.host = host
        self.port = port
        self.arguments = dict(arguments or {})
        self.envs = dict(envs or {})
        self.on_error = on_error
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind and listen (OSError when the address is taken); port 0 picks a free port."""
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=RELAY_CHUNK
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening and end every relayed connection."""
        if self._server is not None:
            self._server.close()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        if self._server is not None:
            with suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> LocalAppProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _report(self, message: str) -> None:
        if self.on_error is not None:
            self.on_error(message)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            tunnel = self.compute_session.open_tcpproxy(self.app, self.arguments, self.envs)
            async with tunnel as ws:
                await self._relay(ws, reader, writer)
        except asyncio.CancelledError:
            pass  # shutting down: the finally below closes the peer
        except BackendError as e:
            reason = _describe(e)
            self._report(f'The tunnel to "{self.app}" was refused: {reason}')
            with suppress(OSError):
                writer.write(_refusal(reason))
                await writer.drain()
        except OSError:
            pass  # the local peer went away; nothing to tell anyone
        finally:
            self._handlers.discard(task)
            writer.close()
            with suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _relay(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Bytes both ways until either side ends. A WebSocket has no half-close, so the end
        of either direction ends the connection (the app's side closes the app connection)."""
        up = asyncio.create_task(self._upstream(ws, reader))
        down = asyncio.create_task(self._downstream(ws, writer))
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)

    async def _upstream(
        self, ws: aiohttp.ClientWebSocketResponse, reader: asyncio.StreamReader
    ) -> None:
        while chunk := await reader.read(RELAY_CHUNK):
            await ws.send_bytes(chunk)

    async def _downstream(
        self, ws: aiohttp.ClientWebSocketResponse, writer: asyncio.StreamWriter
    ) -> None:
        relayed = 0
        while True:
            msg = await ws.receive()
            if msg.type is aiohttp.WSMsgType.BINARY:
                data: bytes = msg.data
            elif msg.type is aiohttp.WSMsgType.TEXT:
                data = str(msg.data).encode()
            elif msg.type is aiohttp.WSMsgType.CLOSE:
                if msg.data != aiohttp.WSCloseCode.OK:
                    self._failed(writer, relayed, f"closed with {msg.data} {msg.extra or ''}")
                return
            elif msg.type is aiohttp.WSMsgType.ERROR:
                self._failed(writer, relayed, _describe(msg.data))
                return
            elif msg.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                return
            else:
                continue
            writer.write(data)
            relayed += len(data)
            await writer.drain()

    def _failed(self, writer: asyncio.StreamWriter, relayed: int, reason: str) -> None:
        reason = reason.strip()
        self._report(f'The tunnel to "{self.app}" failed: {reason}')
        if relayed == 0:  # an HTTP answer in the middle of the app's own bytes would garble them
            writer.write(_refusal(reason))
