"""The agent's end of a runner's unix socket (protocol: ``backendai.agent.runner``).

One connection per execution (or probe): connecting is cheap, and a fresh connection per use
means nothing to restore after the agent or the container restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backendai.agent.backends.protocol import ContainerBackend
from backendai.agent.errors import KernelCreationFailed
from backendai.common.agent_protocol import ContainerState
from backendai.common.errors import AppStartFailed

# A result frame can carry 256 KiB of text, JSON-escaped up to six bytes a character.
LINE_LIMIT = 16 * 2**20
# sun_path holds 108 bytes; longer paths are reached through the directory's /proc fd.
_SUN_PATH_MAX = 107
GREETING_TIMEOUT = 5.0
PROBE_INTERVAL = 0.005  # the runner's socket appears once it listens; probing is cheap
CONFIGURE_TIMEOUT = 10.0
CONTAINER_CHECK_INTERVAL = 0.25  # how often a container that is slow to be ready is inspected


@contextlib.contextmanager
def connectable(socket_path: Path) -> Iterator[str]:
    """A path to connect to for ``socket_path``, which must be a socket (not a symlink to one:
    the ipc directory belongs to the container's user); long paths go through /proc."""
    if not stat.S_ISSOCK(os.lstat(socket_path).st_mode):
        raise OSError(f"{socket_path} is not a socket")
    if len(os.fsencode(socket_path)) <= _SUN_PATH_MAX:
        yield str(socket_path)
        return
    dir_fd = os.open(socket_path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{dir_fd}/{socket_path.name}"
    finally:
        os.close(dir_fd)


class RunnerLink:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, socket_path: Path) -> RunnerLink:
        """Raises OSError when no runner listens there (yet).

        The ipc directory belongs to the container's user, who may replace the socket with a
        symlink to any socket of the host: so it must be a socket, and what answers must greet
        us as a runner does before we send it anything.
        """
        with connectable(socket_path) as path:
            reader, writer = await asyncio.open_unix_connection(path, limit=LINE_LIMIT)
        link = cls(reader, writer)
        try:
            greeting = await asyncio.wait_for(reader.readline(), GREETING_TIMEOUT)
            if json.loads(greeting or b"{}").get("op") != "hello":
                raise OSError(f"{socket_path} is not a runner's socket")
        except (ValueError, AttributeError, TimeoutError) as e:
            await link.close()
            raise OSError(f"{socket_path} is not a runner's socket") from e
        except OSError:
            await link.close()
            raise
        return link

    async def send(self, message: dict[str, Any]) -> None:
        self.writer.write(json.dumps(message).encode() + b"\n")
        await self.writer.drain()

    async def receive_line(self) -> bytes:
        """One raw JSON line (without the newline); b"" when the runner closed the socket."""
        line = await self.reader.readline()
        return line.rstrip(b"\n")

    async def ping(self) -> bool:
        await self.send({"op": "ping"})
        line = await self.receive_line()
        return bool(line) and json.loads(line).get("op") == "pong"

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self.writer.wait_closed()


async def ask(socket_path: Path, message: dict[str, Any], within: float) -> dict[str, Any]:
    """One request and its one answer on a fresh connection. OSError: no runner there, or
    none that answered in time with a JSON object."""
    link = await RunnerLink.connect(socket_path)
    try:
        await link.send(message)
        line = await asyncio.wait_for(link.receive_line(), within)
        answer = json.loads(line)
    except TimeoutError as e:
        raise OSError(f"the runner did not answer {message.get('op')!r} in {within:.0f} s") from e
    except ValueError as e:
        raise OSError(f"the runner answered {message.get('op')!r} with no JSON") from e
    finally:
        await link.close()
    if not isinstance(answer, dict):
        raise OSError(f"the runner answered {message.get('op')!r} with no JSON object")
    return answer


async def probe(socket_path: Path) -> bool:
    """Whether a runner answers on the socket now."""
    try:
        link = await RunnerLink.connect(socket_path)
    except OSError:
        return False
    try:
        return await asyncio.wait_for(link.ping(), timeout=5.0)
    except (OSError, TimeoutError, ValueError):
        return False
    finally:
        await link.close()


async def wait_ready(
    backend: ContainerBackend, container_id: str, socket_path: Path, within: float
) -> None:
    """Until the runner answers on its socket (at most ``within`` seconds); fail early if the
    container dies."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    next_check = loop.time() + CONTAINER_CHECK_INTERVAL
    while not await probe(socket_path):
        now = loop.time()
        if now > deadline:
            raise KernelCreationFailed(f"The kernel was not ready after {within:.0f} s.")
        if now > next_check:
            next_check = now + CONTAINER_CHECK_INTERVAL
            record = await backend.inspect(container_id)
            if record.state is not ContainerState.RUNNING:
                tail = (await backend.logs(container_id))[-2000:]
                raise KernelCreationFailed(
                    f"The container exited (code {record.exit_code}) before it was ready. "
                    f"Its log ends with:\n{tail}"
                )
        await asyncio.sleep(PROBE_INTERVAL)


async def configure(
    socket_path: Path, environ: dict[str, str], link: RunnerLink | None = None
) -> None:
    """Hand a runner its kernel's environment (a claimed pool container); OSError if the
    runner does not take it. ``link``: a connection opened beforehand (it is closed here)."""
    if link is not None and not link.writer.is_closing():
        try:
            await _configure(link, environ)
            return
        except OSError:
            pass  # stale (the runner restarted?): try a new connection
    await _configure(await RunnerLink.connect(socket_path), environ)


async def _configure(link: RunnerLink, environ: dict[str, str]) -> None:
    try:
        await link.send({"op": "configure", "environ": environ})
        line = await asyncio.wait_for(link.receive_line(), CONFIGURE_TIMEOUT)
        if not line or json.loads(line).get("op") != "configured":
            raise OSError("the runner did not take the environment")
    except (TimeoutError, ValueError, AttributeError) as e:
        raise OSError(f"the runner did not take the environment: {e!r}") from e
    finally:
        await link.close()


# --- a connection to an app inside the container, handed over as a descriptor ---------------
_REPLY_LIMIT = 64 * 1024  # the greeting and the "connected" line are tiny


async def open_app_socket(socket_path: Path, port: int, within: float) -> socket.socket:
    """A TCP connection to ``port`` inside the container, which the runner connects there and
    passes back with ``SCM_RIGHTS``: a non-blocking stream socket that is ours alone.

    A raw socket, not asyncio streams: a StreamReader reads with ``recv`` and would drop the
    descriptor riding on the answer. OSError: the runner is not there or broke the protocol;
    AppStartFailed: it could not connect to the app.
    """
    loop = asyncio.get_running_loop()
    link = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    link.setblocking(False)
    try:
        async with asyncio.timeout(within):
            with connectable(socket_path) as path:
                await loop.sock_connect(link, path)
            greeting, fds = await _receive_line(link)
            passed = bool(fds)
            _close_all(fds)
            if passed or _op(greeting) != "hello":
                raise OSError(f"{socket_path} is not a runner's socket")
            await loop.sock_sendall(
                link, json.dumps({"op": "connect", "port": port}).encode() + b"\n"
            )
            line, fds = await _receive_line(link)
    except TimeoutError as e:
        raise OSError(f"the runner did not connect to port {port} in {within:.0f} s") from e
    finally:
        link.close()
    try:
        answer = json.loads(line)
        if not isinstance(answer, dict):
            raise ValueError(line)
    except ValueError:
        _close_all(fds)
        raise OSError("the runner answered 'connect' with no JSON object") from None
    if answer.get("op") == "connect-failed":
        _close_all(fds)
        raise AppStartFailed(f"No connection to port {port}: {answer.get('message', '')}")
    if answer.get("op") != "connected" or len(fds) != 1:
        _close_all(fds)
        raise OSError(f"the runner answered 'connect' with {answer.get('op')!r}, {len(fds)} fds")
    return _stream_socket(fds[0])


def _op(line: bytes) -> object:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message.get("op") if isinstance(message, dict) else None


async def _receive_line(link: socket.socket) -> tuple[bytes, list[int]]:
    """One line and whatever descriptors came with it (the caller owns them, even on error:
    they are closed here only when this raises)."""
    loop = asyncio.get_running_loop()
    data, fds = b"", []
    try:
        while not data.endswith(b"\n"):
            if len(data) > _REPLY_LIMIT:
                raise OSError("the runner's answer is too long")
            try:
                chunk, more, flags, _ = socket.recv_fds(link, 4096, 1, socket.MSG_CMSG_CLOEXEC)
            except BlockingIOError:
                await _readable(loop, link)
                continue
            fds += more
            if flags & socket.MSG_CTRUNC:
                raise OSError("the runner sent more than one descriptor")
            if not chunk:
                raise OSError("the runner closed the connection")
            data += chunk
            # The runner says nothing unasked: a line is all there is until we answer it.
            if b"\n" in data[:-1]:
                raise OSError("the runner sent more than one line")
    except BaseException:
        _close_all(fds)
        raise
    return data[:-1], fds


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), wake)
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


def _stream_socket(fd: int) -> socket.socket:
    """The descriptor as a socket, if it is a TCP stream: what a container's user runs as the
    runner could pass a file or a pipe instead, which must never reach the relay."""
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            raise OSError("the runner passed a descriptor that is not a socket")
        sock = socket.socket(fileno=fd)
    except BaseException:
        os.close(fd)
        raise
    if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        sock.close()
        raise OSError("the runner passed a socket that is not a TCP connection")
    sock.setblocking(False)
    return sock


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()
