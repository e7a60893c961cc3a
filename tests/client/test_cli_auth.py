"""``login``, ``logout``, ``config`` and how the CLI reports failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.client.conftest import ACCESS_KEY, USER_EMAIL, USER_PASSWORD, run_cli
from tests.client.fake_server import FakeBackend, free_port


def test_login_ps_logout(session_mode: str, backend: FakeBackend, state_dir: Path) -> None:
    result = run_cli("login", input=f"{USER_EMAIL}\n{USER_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("User ID: ")
    assert result.stderr_bytes.decode().endswith("\u2714 Login succeeded.\r\n")
    assert (state_dir / "cookie.json").exists()

    backend.gql["keypair"] = {"access_key": "AK", "secret_key": "SK", "is_active": True,
                              "is_admin": False}  # fmt: skip
    backend.gql["compute_session_list"] = {"items": [], "total_count": 0}
    ps = run_cli("ps")
    assert (ps.exit_code, ps.stdout) == (0, "There are no matching sessions.\n")
    assert backend.requests[-1].path == "/func/admin/gql"

    config = run_cli("config")
    assert f'Username: "{USER_EMAIL}"' in config.stdout
    assert "(mode: session)" in config.stdout
    assert "Access key" not in config.stdout

    out = run_cli("logout")
    assert out.exit_code == 0
    assert out.stderr_bytes.decode() == "\u2714 Logout done.\r\n"
    assert not (state_dir / "cookie.json").exists()

    after = run_cli("ps")
    assert after.exit_code == 1
    assert after.stderr.startswith("\u2718 BackendAPIError: 401 Unauthorized\n")
    assert "Traceback" not in after.output


def test_login_failure(session_mode: str, state_dir: Path) -> None:
    result = run_cli("login", input=f"{USER_EMAIL}\nwrong\n")
    assert result.exit_code == 1
    assert result.stderr_bytes.decode().endswith("\u2718 Login failed.\r\n")
    assert not (state_dir / "cookie.json").exists()


@pytest.mark.parametrize("command", ["login", "logout"])
def test_login_needs_session_mode(api_mode: str, command: str) -> None:
    result = run_cli(command, input="x\ny\n")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f'\u2219 To use {command}, your endpoint type must be "session".\n'
    )
    assert "Aborted!" in result.stderr


def test_config_in_api_mode(api_mode: str) -> None:
    result = run_cli("config")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"API endpoint: {api_mode} (mode: api)"
    assert lines[1].startswith("Client version: ") and lines[1].endswith("(API: v6.20210815)")
    assert lines[2:] == [
        "Server version: 20.09.9 (API: v6.20210815)",
        "Negotiated API version: (6, '20210815')",
        'Domain name: "default"',
        'Group name: "default"',
        f'Access key: "{ACCESS_KEY}"',
        'Secret key: "wJalrX************************EXAMPLEKEY"',
        "Signature hash type: sha256",
        "Skip SSL certificate validation? False",
    ]


def test_config_when_server_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKEND_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    result = run_cli("--skip-sslcert-validation", "config")
    assert result.exit_code == 0
    assert "Server version: (failed to fetch)" in result.stdout
    assert "Access key: (this is an anonymous session)" in result.stdout
    assert "Skip SSL certificate validation? True" in result.stdout


def test_unreachable_server_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("BACKEND_ENDPOINT", endpoint)
    result = run_cli("admin", "domains")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"\u2718 BackendClientError: Cannot reach the API endpoint {endpoint}"
    )
    assert result.stderr.count("\n") == 1


def test_invalid_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKEND_ENDPOINT_TYPE", "docker")
    result = run_cli("ps")
    assert result.exit_code == 1
    assert "BACKEND_ENDPOINT_TYPE" in result.stderr


def test_auth_error_shows_title_and_details(api_mode: str, backend: FakeBackend) -> None:
    backend.keys = {ACCESS_KEY: "another-secret"}
    result = run_cli("admin", "keypair")
    assert result.exit_code == 1
    assert result.stderr_bytes.decode() == (
        "\u2718 BackendAPIError: 401 Unauthorized\n"
        "  Authentication failed.\n"
        "  \u279c Error details: Signature mismatch\r\n"
    )


def test_announcement_goes_to_stderr(api_mode: str, backend: FakeBackend) -> None:
    backend.announcement = {"enabled": True, "message": "Maintenance at 5pm"}
    backend.gql["domains"] = []
    result = run_cli("admin", "domains")
    assert result.stdout == "There is no domain.\n"
    assert "The server has an announcement!" in result.stderr
    assert "Maintenance at 5pm" in result.stderr
