"""The agent's end of a runner's unix socket (protocol: ``backendai.agent.runner``).

One connection per execution (or probe): connecting is cheap, and a fresh connection per use
means nothing to restore after the agent or the container restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from backendai.agent.backends.protocol import ContainerBackend
from backendai.agent.errors import KernelCreationFailed
from backendai.common.agent_protocol import ContainerState

# A result frame can carry 256 KiB of text, JSON-escaped up to six bytes a character.
LINE_LIMIT = 16 * 2**20
# sun_path holds 108 bytes; longer paths are reached through the directory's /proc fd.
_SUN_PATH_MAX = 107
GREETING_TIMEOUT = 5.0
PROBE_INTERVAL = 0.005  # the runner's socket appears once it listens; probing is cheap
CONFIGURE_TIMEOUT = 10.0
CONTAINER_CHECK_INTERVAL = 0.25  # how often a container that is slow to be ready is inspected


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
        if not stat.S_ISSOCK(os.lstat(socket_path).st_mode):
            raise OSError(f"{socket_path} is not a socket")
        if len(os.fsencode(socket_path)) <= _SUN_PATH_MAX:
            reader, writer = await asyncio.open_unix_connection(socket_path, limit=LINE_LIMIT)
        else:
            dir_fd = os.open(socket_path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                short = f"/proc/self/fd/{dir_fd}/{socket_path.name}"
                reader, writer = await asyncio.open_unix_connection(short, limit=LINE_LIMIT)
            finally:
                os.close(dir_fd)
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
