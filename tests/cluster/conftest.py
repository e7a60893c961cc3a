"""A real ``redis-server`` per test, on a free loopback port, with nothing saved to disk.

``scripts/setup.sh test`` installs Redis. Without it these tests are skipped locally, with the
reason, and fail in CI (``CI`` set), so that CI never passes by leaving them out.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fixtures.live import free_port

START_TIMEOUT_S = 10.0


@dataclass
class RedisServer:
    """One ``redis-server`` that a test may stop and start again (on the same port)."""

    binary: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.proc is None
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited early:\n{self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None:
            proc, self.proc = self.proc, None
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        why = "redis-server is not installed (scripts/setup.sh test installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI: {why}", pytrace=False)
        pytest.skip(f"Redis unavailable: {why}")
    return binary


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary(), free_port(), tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
