"""Backend.AI's official client 20.9.9 against our server, and our own CLI the same way.

Both CLIs run as subprocesses with the environment a user would set; the assertions are on
what a user reads. The official client lives in .venv-compat (scripts/compat-client.sh).
"""

from __future__ import annotations

import pytest

from tests.compat.conftest import Runner, api_env, session_env
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.compat]


def test_admin_keypair(cli: Runner, live_server: LiveServer) -> None:
    r = cli("admin", "keypair", env=api_env(live_server))
    assert r.returncode == 0, r.stderr
    demo = live_server.user("demo")
    assert demo["access_key"] in r.stdout
    assert demo["email"] in r.stdout
    assert "Admin?" in r.stdout


def test_admin_domain(cli: Runner, live_server: LiveServer) -> None:
    r = cli("admin", "domain", env=api_env(live_server))
    assert r.returncode == 0, r.stderr
    assert "default" in r.stdout
    assert "Scaling Groups" in r.stdout


def test_ps_without_sessions(cli: Runner, live_server: LiveServer) -> None:
    r = cli("ps", env=api_env(live_server))
    assert r.returncode == 0, r.stderr
    assert "There are no matching sessions." in r.stdout


def test_superadmin_lists_domains(cli: Runner, live_server: LiveServer) -> None:
    r = cli("admin", "domains", env=api_env(live_server, "superadmin"))
    assert r.returncode == 0, r.stderr
    assert "default" in r.stdout


def test_wrong_secret_key_is_reported(cli: Runner, live_server: LiveServer) -> None:
    env = api_env(live_server) | {"BACKEND_SECRET_KEY": "x" * 40}
    r = cli("admin", "keypair", env=env)
    assert r.returncode != 0
    assert "401" in r.stderr
    assert "Signature mismatch" in r.stderr


def test_session_mode_login_ps_logout(cli: Runner, live_server: LiveServer) -> None:
    demo = live_server.user("demo")
    env = session_env(live_server)
    r = cli("login", env=env, stdin=f"{demo['email']}\n{demo['password']}\n")
    assert "Login succeeded" in r.stderr + r.stdout, r.stderr
    r = cli("ps", env=env)
    assert r.returncode == 0, r.stderr
    assert "There are no matching sessions." in r.stdout
    r = cli("logout", env=env)
    assert "Logout done" in r.stderr + r.stdout


def test_session_mode_wrong_password(cli: Runner, live_server: LiveServer) -> None:
    r = cli("login", env=session_env(live_server), stdin="demo@example.com\nwrong-password\n")
    assert "Login succeeded" not in r.stderr + r.stdout
    assert "incorrect" in r.stderr + r.stdout
