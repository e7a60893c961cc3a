"""Fixtures: a fake manager/webserver in a thread, client environment, and the real server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from backendai.client.cli.main import main
from tests.client.fake_server import FakeBackend, ServerThread, free_port

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
USER_EMAIL = "user@example.com"
USER_PASSWORD = "secret-password"


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(keys={ACCESS_KEY: SECRET_KEY}, users={USER_EMAIL: USER_PASSWORD})


@pytest.fixture
def server(backend: FakeBackend) -> Iterator[str]:
    thread = ServerThread(backend.app()).start()
    yield thread.url
    thread.stop()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "backend.ai"


@pytest.fixture(autouse=True)
def client_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A clean client environment: no BACKEND_* from the caller, a private state dir."""
    for key in list(os.environ):
        if key.startswith(("BACKEND_", "SORNA_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("LINES", "20")
    monkeypatch.setenv("COLUMNS", "80")


@pytest.fixture
def api_mode(monkeypatch: pytest.MonkeyPatch, server: str) -> str:
    monkeypatch.setenv("BACKEND_ENDPOINT", server)
    monkeypatch.setenv("BACKEND_ENDPOINT_TYPE", "api")
    monkeypatch.setenv("BACKEND_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("BACKEND_SECRET_KEY", SECRET_KEY)
    return server


@pytest.fixture
def session_mode(monkeypatch: pytest.MonkeyPatch, server: str) -> str:
    monkeypatch.setenv("BACKEND_ENDPOINT", server)
    monkeypatch.setenv("BACKEND_ENDPOINT_TYPE", "session")
    return server


def run_cli(*args: str, input: str | None = None) -> Result:
    """Run ``backend.ai ARGS`` in-process; ``result.stdout`` / ``result.stderr`` apart."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


# -- the real server, for tests/client/test_cli_live.py -----------------------------------


def _wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"backendai-server exited early with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``backendai-server up`` on free ports; yields its demo-credentials.json content."""
    exe = shutil.which("backendai-server", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("backendai-server is not installed in this environment")
    data_dir = tmp_path_factory.mktemp("live-server")
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            exe,
            "up",
            "--data-dir",
            str(data_dir),
            "--port",
            str(free_port()),
            "--webserver-port",
            str(free_port()),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        creds_file = data_dir / "demo-credentials.json"
        deadline = time.monotonic() + 60
        while not creds_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "backendai-server did not start:\n" + (data_dir / "server.log").read_text()
                )
            time.sleep(0.2)
        creds: dict[str, Any] = json.loads(creds_file.read_text())
        _wait_for(creds["endpoint"] + "/", proc, 30)
        _wait_for(creds["webserver"] + "/func/", proc, 30)
        yield creds
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
