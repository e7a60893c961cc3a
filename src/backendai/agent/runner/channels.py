"""What a run reads and writes: the agent's socket, console frames and child output pipes."""

from __future__ import annotations

import codecs
import collections
import json
import os
import socket
import sys
import time
from typing import Any

FLUSH_INTERVAL = 0.05  # the longest output waits before a "continued" frame carries it
MAX_PENDING = 256 * 1024  # or less, when this much output is waiting
READ_SIZE = 65536
Message = dict[str, Any]


def log(text: str) -> None:
    sys.stderr.write(f"runner: {text}\n")  # our stderr is the container log
    sys.stderr.flush()


def cgroup_number(paths: list[str], key: str | None = None) -> int | None:
    """A number from the first readable cgroup file (v1, then v2), or its ``KEY N`` line."""
    for path in paths:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            name, _, value = line.rpartition(" ")
            if (key is None and not name) or name == key:
                return int(value) if value.isdigit() else None
    return None


def oom_kills() -> int:
    paths = ["/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"]
    return cgroup_number(paths, "oom_kill") or 0


def oom_message() -> str:
    paths = ["/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"]
    limit = cgroup_number(paths)
    shown = f"{limit / 2**20:.0f} MiB" if limit and limit < 2**60 else "unknown"
    return killed_for_memory(shown)


def killed_for_memory(shown_limit: str) -> str:
    """What the user reads when the code died at the memory limit (runner and agent alike)."""
    return f"\nKilled: the session ran out of memory (memory limit: {shown_limit}).\n"


OOM_ENDING = "The session is ending (oom-killed).\n"


def exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode  # shell convention for signals


class Peer:
    """The agent's connection: JSON lines in, whole frames out."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.closed = False
        # Messages read but not yet handled: an interrupt can share a read with its "run".
        self.backlog: collections.deque[Message] = collections.deque()

    def feed(self) -> None:
        """Read what is available (call when readable) into the backlog."""
        try:
            data = self.sock.recv(READ_SIZE)
        except OSError:
            data = b""
        self.closed = self.closed or not data
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        self.backlog.extend(json.loads(line) for line in lines if line.strip())

    def take(self) -> list[Message]:
        """Every message read so far and not yet handled."""
        messages = list(self.backlog)
        self.backlog.clear()
        return messages

    def next(self) -> Message | None:
        """Block until a message arrives; None at EOF."""
        while not self.backlog and not self.closed:
            self.feed()
        return self.backlog.popleft() if self.backlog else None

    def send(self, message: Message) -> None:
        if not self.closed:
            try:
                self.sock.sendall(json.dumps(message).encode() + b"\n")
            except OSError:
                self.closed = True


class Output:
    """Console records waiting to go out, merged per stream, sent as result frames."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.console: list[list[str]] = []
        self.size = 0
        self.since = 0.0

    def add(self, stream: str, text: str) -> None:
        if not text:
            return
        (sys.stdout if stream == "stdout" else sys.stderr).write(text)  # the container log
        if self.console and self.console[-1][0] == stream:
            self.console[-1][1] += text
        else:
            self.since = self.since if self.console else time.monotonic()
            self.console.append([stream, text])
        self.size += len(text)

    def timeout(self) -> float | None:
        if not self.console:
            return None
        return max(0.0, self.since + FLUSH_INTERVAL - time.monotonic())

    def send(self, status: str, exit_code: int | None = None, **options: Any) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        frame = {"status": status, "console": self.console, "exitCode": exit_code}
        self.peer.send(frame | {"options": options, "files": []})
        self.console, self.size = [], 0


class Pipe:
    """A child's output pipe, decoded incrementally so split UTF-8 sequences survive."""

    def __init__(self, fd: int, stream: str) -> None:
        self.fd, self.stream, self.eof = fd, stream, False
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        os.set_blocking(fd, False)

    def drain(self, out: Output) -> None:
        while not self.eof:
            try:
                data = os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                return
            self.eof = not data
            out.add(self.stream, self.decoder.decode(data, final=self.eof))
