"""Chromium in a network namespace of its own, with chosen loopback ports relayed to the host's.

Chromium drops every request in flight (``net::ERR_NETWORK_CHANGED``) when the host's network
addresses change, and Docker changes them whenever a network or a container comes or goes, as
the agent does in the background. In a namespace that has only its own loopback, Chromium sees
no change; a port the test opens on the host (``backend.ai app``) is relayed into it at the
same number, so the page's URL stays the host's.

Needs root (unshare/setns); ``Netns.create()`` answers None where that is not possible.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
CHUNK = 65536


class Netns:
    def __init__(self, holder: subprocess.Popen[bytes], path: str) -> None:
        self.holder, self.path = holder, path
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._lock = threading.Lock()  # one thread switches namespaces at a time
        self._listeners: list[socket.socket] = []
        self._forwarded: set[int] = set()
        with self._inside():
            bring_loopback_up()

    @classmethod
    def create(cls) -> Netns | None:
        if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nsenter"):
            return None
        # A process that only holds the namespace open, gone with the test run.
        holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"])
        path, own = f"/proc/{holder.pid}/ns/net", os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # unshare execs sleep once the namespace is made
            with contextlib.suppress(OSError):
                if os.readlink(path) != own:
                    return cls(holder, path)
            time.sleep(0.01)
        holder.kill()
        holder.wait()
        return None

    def close(self) -> None:
        for listener in self._listeners:
            listener.close()
        self.holder.kill()
        self.holder.wait()

    def wrapper(self, directory: Path, executable: str) -> Path:
        """A script that runs ``executable`` inside the namespace (for Playwright to launch)."""
        script = directory / "chromium-in-netns"
        script.write_text(f'#!/bin/sh\nexec nsenter --net={self.path} {executable} "$@"\n')
        script.chmod(0o755)
        return script

    @contextlib.contextmanager
    def _inside(self) -> Iterator[None]:
        """This thread in the namespace for the block (sockets made there stay there)."""
        with self._lock, open(self.path) as target, open("/proc/self/ns/net") as home:
            self._setns(target.fileno())
            try:
                yield
            finally:
                self._setns(home.fileno())

    def _setns(self, fd: int) -> None:
        if self._libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns: {os.strerror(errno)}")

    def forward(self, port: int) -> None:
        """127.0.0.1:port inside the namespace relays to 127.0.0.1:port of the host (once per
        port: the tests of a run share the server, and each asks for its ports)."""
        if port in self._forwarded:
            return
        self._forwarded.add(port)
        with self._inside():
            listener = socket.create_server(("127.0.0.1", port), backlog=64)
        self._listeners.append(listener)
        threading.Thread(target=self._accept, args=(listener, port), daemon=True).start()

    def _accept(self, listener: socket.socket, port: int) -> None:
        while True:
            try:
                inner, _ = listener.accept()
            except OSError:
                return  # closed
            try:
                outer = socket.create_connection(("127.0.0.1", port), timeout=10)
            except OSError:
                inner.close()
                continue
            outer.settimeout(None)
            threading.Thread(target=relay, args=(inner, outer), daemon=True).start()


def relay(inner: socket.socket, outer: socket.socket) -> None:
    """Both directions until both ends are done, then close both."""
    back = threading.Thread(target=pump, args=(outer, inner), daemon=True)
    back.start()
    pump(inner, outer)
    back.join()
    inner.close()
    outer.close()


def pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(CHUNK):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        # Half-close so the other direction can finish; both close when both are done.
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RD)


def bring_loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(s, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))
