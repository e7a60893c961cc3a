"""Fixtures: a fake manager/webserver in a thread, client environment, and the real server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from backendai.client.cli.main import main
from tests.client.fake_server import FakeBackend, ServerThread

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
