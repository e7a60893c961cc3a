"""The two CLIs under test (Backend.AI's official 20.9.9 client and ours) and their env."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.live import LiveServer

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL = ROOT / ".venv-compat" / "bin" / "backend.ai"
OURS = Path(sys.executable).with_name("backend.ai")

Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(params=["official", "ours"])
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Runner:
    exe = OFFICIAL if request.param == "official" else OURS
    if not exe.exists():
        message = f"{exe} is missing (run scripts/setup.sh test)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    home = tmp_path / "home"
    home.mkdir()

    def run(
        *args: str,
        env: dict[str, str],
        stdin: str | None = None,
        cwd: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        full_env = {
            "PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8",
            "XDG_STATE_HOME": str(home / ".local/state"),
            "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
        } | env  # fmt: skip
        return subprocess.run(
            [str(exe), *args], input=stdin, capture_output=True, text=True, env=full_env,
            timeout=timeout, check=False, cwd=cwd or tmp_path,
        )  # fmt: skip

    return run


def api_env(server: LiveServer, role: str = "demo") -> dict[str, str]:
    user = server.user(role)
    return {
        "BACKEND_ENDPOINT_TYPE": "api",
        "BACKEND_ENDPOINT": server.endpoint,
        "BACKEND_ACCESS_KEY": user["access_key"],
        "BACKEND_SECRET_KEY": user["secret_key"],
    }


def session_env(server: LiveServer) -> dict[str, str]:
    return {"BACKEND_ENDPOINT_TYPE": "session", "BACKEND_ENDPOINT": server.webserver}
