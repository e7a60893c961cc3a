"""Our ``backend.ai`` CLI, as a subprocess, against the real server (``backendai-server up``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

CLI = str(Path(sys.executable).parent / "backend.ai")


def backend_ai(
    *args: str, env: dict[str, str], input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        env={**os.environ, **env},
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,  # no controlling terminal: the password comes from stdin
    )


@pytest.fixture
def keypair_env(live_server: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    return {
        "BACKEND_ENDPOINT": live_server["endpoint"],
        "BACKEND_ENDPOINT_TYPE": "api",
        "BACKEND_ACCESS_KEY": live_server["demo"]["access_key"],
        "BACKEND_SECRET_KEY": live_server["demo"]["secret_key"],
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


@pytest.fixture
def session_env(live_server: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    return {
        "BACKEND_ENDPOINT": live_server["webserver"],
        "BACKEND_ENDPOINT_TYPE": "session",
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


def test_keypair_mode(live_server: dict[str, Any], keypair_env: dict[str, str]) -> None:
    demo = live_server["demo"]
    keypair = backend_ai("admin", "keypair", env=keypair_env)
    assert keypair.returncode == 0, keypair.stderr
    lines = keypair.stdout.splitlines()
    assert lines[0].split() == ["Field", "Value"]
    assert lines[2].split() == ["Email", demo["email"]]
    assert lines[4].split() == ["Access", "Key", demo["access_key"]]
    assert lines[7].split() == ["Admin?", "False"]

    domain = backend_ai("admin", "domain", env=keypair_env)
    assert domain.returncode == 0, domain.stderr
    assert domain.stdout.splitlines()[2].split() == ["Name", "default"]

    ps = backend_ai("ps", env=keypair_env)
    assert (ps.returncode, ps.stdout, ps.stderr) == (0, "There are no matching sessions.\n", "")


def test_bad_secret_is_rejected(keypair_env: dict[str, str]) -> None:
    result = backend_ai("ps", env={**keypair_env, "BACKEND_SECRET_KEY": "not-the-secret"})
    assert result.returncode == 1
    assert result.stderr.startswith("\u2718 BackendAPIError: 401 Unauthorized")
    assert "Traceback" not in result.stderr


def test_session_mode_login_ps_logout(
    live_server: dict[str, Any], session_env: dict[str, str]
) -> None:
    demo = live_server["demo"]
    login = backend_ai("login", env=session_env, input=f"{demo['email']}\n{demo['password']}\n")
    assert login.returncode == 0, login.stderr
    assert "Login succeeded" in login.stderr

    ps = backend_ai("ps", env=session_env)
    assert (ps.returncode, ps.stdout) == (0, "There are no matching sessions.\n"), ps.stderr

    keypair = backend_ai("admin", "keypair", env=session_env)
    assert keypair.returncode == 0, keypair.stderr
    assert keypair.stdout.splitlines()[4].split() == ["Access", "Key", demo["access_key"]]

    logout = backend_ai("logout", env=session_env)
    assert logout.returncode == 0, logout.stderr
    assert "Logout done." in logout.stderr

    after = backend_ai("ps", env=session_env)
    assert after.returncode == 1
    assert after.stderr.startswith("\u2718 BackendAPIError: 401 Unauthorized")


def test_session_mode_wrong_password(
    live_server: dict[str, Any], session_env: dict[str, str]
) -> None:
    login = backend_ai("login", env=session_env, input=f"{live_server['demo']['email']}\nnope\n")
    assert login.returncode == 1
    assert "\u2718" in login.stderr
    assert not (Path(session_env["XDG_STATE_HOME"]) / "backend.ai" / "cookie.json").exists()
