"""The streaming parts of a compute session: code execution, lifecycle events, terminal.

* execution: ``GET /stream/session/{id}/execute`` upgraded to a WebSocket. The client's
  first frame is ``{"code", "mode", "options"}``; the server answers JSON result frames
  (``status`` + ``console`` records) until ``finished``. A ``waiting-input`` frame is
  answered with the input line as a raw text frame (not JSON).
* events: ``GET /events/session`` as server-sent events; the stream ends with an event
  named ``server_close``, and is re-opened after a pause if it ends without one.
* terminal: ``GET /stream/session/{id}/pty`` upgraded to a WebSocket of JSON text frames
  (``stdin``/``resize``/``ping``/``restart`` up, ``out``/``error`` down, data in base64).
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from backendai.client.exceptions import BackendClientError
from backendai.client.request import QueryParams, Request

if TYPE_CHECKING:
    from backendai.client.session import AsyncSession

__all__ = [
    "EXECUTE_MODES",
    "InputProvider",
    "SSEMessage",
    "StreamPty",
    "collect_result",
    "execute_frames",
    "execution_request",
    "parse_sse",
    "session_events",
]

EXECUTE_MODES = ("query", "batch")
DEFAULT_SSE_RETRY = 5.0  # seconds before re-opening an event stream that ended early
MIN_SSE_RETRY = 1.0  # never hammer the server, whatever retry it asks for

# Called with the ``waiting-input`` frame; returns (or resolves to) the line to send.
InputProvider = Callable[[dict[str, Any]], str | Awaitable[str]]


def execution_request(
    code: str, mode: str, opts: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The first frame of an execution; batch options default to "skip" (None)."""
    if mode == "query":
        options: dict[str, Any] = {}
    elif mode == "batch":
        opts = opts or {}
        options = {
            "clean": opts.get("clean"),
            "build": opts.get("build"),
            "buildLog": bool(opts.get("buildLog", False)),
            "exec": opts.get("exec"),
        }
    else:
        raise BackendClientError(f"Invalid execution mode: {mode!r} (use query or batch)")
    return {"code": code, "mode": mode, "options": options}


async def execute_frames(
    session: AsyncSession,
    target: str,
    params: QueryParams,
    first_frame: dict[str, Any],
    input_provider: InputProvider | None,
) -> AsyncGenerator[dict[str, Any], None]:
    """Run one execution; yield each result frame, ending after ``finished``.

    A ``waiting-input`` frame is yielded first (so its prompt can be shown), then answered
    with ``input_provider``'s line when the consumer asks for the next frame.
    """
    rqst = Request(
        session, "GET", f"/stream/session/{target}/execute", params=params, streaming=True
    )
    async with rqst.connect_websocket() as ws:
        await ws.send_str(json.dumps(first_frame))
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.ERROR:
                raise BackendClientError(f"The execution stream failed: {ws.exception()}")
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue  # binary frames are reserved for future use
            try:
                frame = json.loads(msg.data)
            except ValueError:
                continue
            if not isinstance(frame, dict):
                continue
            yield frame
            status = frame.get("status")
            if status == "finished":
                return
            if status == "waiting-input" and input_provider is not None:
                line = input_provider(frame)
                if inspect.isawaitable(line):
                    line = await line
                await ws.send_str(str(line))


def collect_result(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """One result object from the frames of an execution (console records concatenated)."""
    last = frames[-1] if frames else {}
    console: list[list[Any]] = []
    files: list[Any] = []
    for frame in frames:
        console.extend(list(rec) for rec in frame.get("console") or [])
        files.extend(frame.get("files") or [])
    return {
        "status": last.get("status", "finished"),
        "exitCode": last.get("exitCode"),
        "console": console,
        "files": files,
        "options": last.get("options") or {},
    }


# -- server-sent events -------------------------------------------------------------------


@dataclass(frozen=True)
class SSEMessage:
    """One server-sent event: its name (``message`` if unnamed) and its data text."""

    event: str
    data: str
    id: str | None = None
    retry: int | None = None  # milliseconds, as the server asked

    def json(self) -> Any:
        """The data as JSON; the raw text when it is not JSON."""
        try:
            return json.loads(self.data)
        except ValueError:
            return self.data


async def parse_sse(lines: AsyncIterable[bytes]) -> AsyncIterator[SSEMessage]:
    """Messages from the lines of an event stream (``field: value`` lines, blank = end).

    A message cut off by the end of the stream is dropped, as the SSE standard says.
    """
    fields: list[tuple[str, str]] = []
    async for raw in lines:
        line = raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
        if line.startswith(":"):
            continue  # a comment (keep-alive ping)
        if line:
            name, _, value = line.partition(":")
            fields.append((name, value.removeprefix(" ")))
            continue
        if not fields:
            continue
        message = _to_message(fields)
        fields = []
        if message is not None:
            yield message


def _to_message(fields: list[tuple[str, str]]) -> SSEMessage | None:
    event, event_id, retry = "message", None, None
    data: list[str] = []
    for name, value in fields:
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            event_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)
    return SSEMessage(event=event, data="\n".join(data), id=event_id, retry=retry)


async def session_events(
    session: AsyncSession, params: QueryParams, *, reconnect: bool = True
) -> AsyncGenerator[SSEMessage, None]:
    """Lifecycle events until ``server_close`` (yielded too); re-opens a closed stream."""
    retry = DEFAULT_SSE_RETRY
    while True:
        rqst = Request(session, "GET", "/events/session", params=params, streaming=True)
        async with rqst.stream() as resp:
            async for message in parse_sse(resp.content):
                if message.retry is not None:
                    retry = max(message.retry / 1000, MIN_SSE_RETRY)
                yield message
                if message.event == "server_close":
                    return
        if not reconnect:
            return
        await asyncio.sleep(retry)


# -- terminal -----------------------------------------------------------------------------


class StreamPty:
    """A pseudo-terminal of a session over a WebSocket.

    Iterate it for the terminal's output bytes (stdout and stderr merged); send keystrokes
    with :meth:`send_stdin` and window sizes with :meth:`resize`.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send_stdin(self, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        await self._send({"type": "stdin", "chars": base64.b64encode(raw).decode("ascii")})

    async def resize(self, rows: int, cols: int) -> None:
        await self._send({"type": "resize", "rows": rows, "cols": cols})

    async def ping(self) -> None:
        """Keep the session from being reclaimed as idle while the terminal is open."""
        await self._send({"type": "ping"})

    async def restart(self) -> None:
        """Restart the terminal's session process, keeping the working directory."""
        await self._send({"type": "restart"})

    async def close(self) -> None:
        await self.ws.close()

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def _send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._outputs()

    async def _outputs(self) -> AsyncIterator[bytes]:
        async for msg in self.ws:
            if msg.type is aiohttp.WSMsgType.ERROR:
                raise BackendClientError(f"The terminal stream failed: {self.ws.exception()}")
            if msg.type is aiohttp.WSMsgType.BINARY:
                yield bytes(msg.data)  # tolerate servers that send raw bytes
                continue
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(msg.data)
            except ValueError:
                continue
            if not isinstance(frame, dict):
                continue
            if frame.get("type") == "out":
                yield base64.b64decode(str(frame.get("data", "")))
            elif frame.get("type") == "error":
                raise BackendClientError(f"Terminal error: {frame.get('data')}")
