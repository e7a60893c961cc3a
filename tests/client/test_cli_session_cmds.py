"""``start``, ``terminate``/``rm``/``kill``, ``restart``, ``logs``, ``events``, file commands."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from backendai.client.cli.formatting import format_stats, natural_size
from tests.client.conftest import run_cli
from tests.client.fake_server import FakeBackend
from tests.client.fake_sessions import MTIME

IMAGE = "python:3.9-ubuntu20.04"


def _start(backend: FakeBackend, name: str = "mysess") -> str:
    assert run_cli("start", "-t", name, IMAGE).exit_code == 0
    return backend.sessions.sessions[name].id


def test_start(api_mode: str, backend: FakeBackend) -> None:
    result = run_cli(
        "start", "-t", "app-test", "-r", "cpu=4", "-r", "mem=8g", "-m", "myfolder",
        "-c", "python serve.py", "-o", "AKOTHER", "--type", "batch", IMAGE,
    )  # fmt: skip
    assert result.exit_code == 0
    sid = backend.sessions.sessions["app-test"].id
    assert result.stderr == (
        f"\u2219 Session ID {sid} is created and ready.\r\n"
        "\u2219 This session provides the following app services: jupyter, sshd\r\n"
        f'\u2219 Follow its output with "backend.ai task-logs {sid}".\r\n'
    ).replace("\r\n", "\n")
    body = next(r.json() for r in backend.requests if r.path == "/session")
    assert body["startupCommand"] == "python serve.py"
    assert body["owner_access_key"] == "AKOTHER"
    assert body["config"]["resources"] == {"cpu": "4", "mem": "8g"}
    assert body["type"] == "batch"
    again = run_cli("start", "-t", "app-test", IMAGE)
    assert again.stderr.startswith(f"\u2219 Session ID {sid} is already running and ready.")


def test_start_enqueued_and_errors(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.create_status = "PENDING"
    queued = run_cli("start", "-t", "queued", "--enqueue-only", IMAGE)
    sid = backend.sessions.sessions["queued"].id
    assert queued.stderr == f"\u2219 Session ID {sid} is enqueued for scheduling.\n"
    backend.sessions.create_error = (403, "insufficient-privilege", "Not allowed.")
    denied = run_cli("start", "-t", "other", IMAGE)
    assert denied.exit_code == 1
    assert denied.stderr.startswith("\u2718 BackendAPIError: 403 Forbidden\n  Not allowed.")


@pytest.mark.parametrize("command", ["terminate", "rm", "kill"])
def test_terminate_aliases(api_mode: str, backend: FakeBackend, command: str) -> None:
    _start(backend, "sess1")
    _start(backend, "sess2")
    result = run_cli(command, "sess1", "sess2")
    assert result.exit_code == 0
    assert result.stderr == "\u22ef Terminating the session(s)...\r\u2714 Done.\n"
    assert backend.paths()[-2:] == ["DELETE /session/sess1", "DELETE /session/sess2"]


def test_terminate_failures_and_options(api_mode: str, backend: FakeBackend) -> None:
    _start(backend, "sess1")
    missing = run_cli("rm", "nosuch")
    assert missing.exit_code == 1
    assert "No such session." in missing.stderr
    assert 'If you are an admin, use "-o" / "--owner" option' in missing.stderr
    assert "Done." not in missing.stderr
    backend.sessions.destroy_stats = {
        "cpu_used": {"current": "1234", "capacity": None, "unit_hint": "msec"},
        "version": 2, "status": "terminated",
    }  # fmt: skip
    forced = run_cli("kill", "-f", "-s", "-o", "AKOTHER", "sess1")
    assert forced.exit_code == 0
    assert backend.paths()[-1] == "DELETE /session/sess1?owner_access_key=AKOTHER&forced=true"
    # Values are padded to align decimal points, as Backend.AI's client does.
    assert forced.stdout == (
        "--------  ------  ----\ncpu_used  1,234   msec\n--------  ------  ----\n"
    )
    nothing = run_cli("terminate")
    assert nothing.exit_code == 1 and "Specify at least one session ID" in nothing.stderr


def test_restart(api_mode: str, backend: FakeBackend) -> None:
    _start(backend)
    result = run_cli("restart", "mysess")
    assert result.exit_code == 0
    assert result.stderr == "\u22ef Restarting the session(s)...\r\u2714 Done.\n"
    assert backend.paths()[-1] == "PATCH /session/mysess"
    assert run_cli("restart", "nosuch").exit_code == 1


def test_logs(api_mode: str, backend: FakeBackend) -> None:
    _start(backend)
    result = run_cli("logs", "mysess")
    assert result.exit_code == 0
    assert result.stdout == "log line 1\nlog line 2\n"
    assert result.stderr == "\u22ef Retrieving live container logs...\r\u2714 End of logs.\n"
    assert run_cli("logs", "nosuch").exit_code == 1


def test_events(api_mode: str, backend: FakeBackend) -> None:
    data = {"reason": "", "sessionName": "s1", "sessionId": "x"}
    backend.sessions.event_streams = [[("session_started", data), ("server_close", {})]]
    result = run_cli("events", "s1", "--scope", "session")
    assert result.exit_code == 0
    assert result.stdout == (
        "\x1b[36m\x1b[1msession_started\x1b[0m {'reason': '', 'sessionName': 's1', "
        "'sessionId': 'x'}\n"
        "\x1b[36m\x1b[1mserver_close\x1b[0m {}\n"
    )
    assert backend.sessions.event_queries[-1] == {"sessionName": "s1", "scope": "session"}
    by_id = run_cli("events", "1d0e196f-dbd7-4c3b-a116-2969d0a16ff7")
    assert by_id.exit_code == 0
    assert backend.sessions.event_queries[-1] == {
        "sessionId": "1d0e196f-dbd7-4c3b-a116-2969d0a16ff7",
        "scope": "*",
    }


def test_events_error(api_mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKEND_SECRET_KEY", "wrong")
    result = run_cli("events", "s1")
    assert result.exit_code == 1
    assert result.stderr.startswith("\u2718 BackendAPIError: 401 Unauthorized")


def test_upload(
    api_mode: str, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _start(backend)
    monkeypatch.chdir(tmp_path)
    Path("data").mkdir()
    Path("data/a.csv").write_text("1,2\n")
    result = run_cli("upload", "mysess", "data/a.csv")
    assert result.exit_code == 0
    assert result.stderr.startswith("\u22ef Uploading files...\r")
    assert "Uploading files: 100%|" in result.stderr and "4.00/4.00" in result.stderr
    assert result.stderr.endswith("\u2714 Uploaded.\n")
    assert backend.sessions.sessions["mysess"].uploads == {"data/a.csv": b"1,2\n"}
    assert run_cli("upload", "mysess", "nosuchfile").exit_code == 2
    assert run_cli("upload", "nosuch", "data/a.csv").exit_code == 1


def test_download(
    api_mode: str, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _start(backend)
    monkeypatch.chdir(tmp_path)
    backend.sessions.container_files = {"id_container": b"PRIVATE KEY\n"}
    result = run_cli("download", "mysess", "id_container")
    assert result.exit_code == 0
    assert Path("id_container").read_bytes() == b"PRIVATE KEY\n"
    assert result.stderr.startswith("\u22ef Downloading file(s) from mysess...\r")
    assert "Downloading files: 100%|" in result.stderr
    assert result.stderr.endswith(f"\u2714 Downloaded to {tmp_path.resolve()}.\n")
    into = run_cli("download", "mysess", "id_container", "--dest", "keys")
    assert into.exit_code == 0 and Path("keys/id_container").exists()
    missing = run_cli("download", "mysess", "nope")
    assert missing.exit_code == 1 and "The file is not found." in missing.stderr


def test_ls(api_mode: str, backend: FakeBackend) -> None:
    _start(backend)
    backend.sessions.container_files = {"reuse.txt": b"0123456789", "big.bin": b"x" * 2048}
    result = run_cli("ls", "mysess")
    assert result.exit_code == 0
    when = datetime.fromtimestamp(MTIME).strftime("%b %d %Y %H:%M:%S")
    assert result.stdout == (
        "File name    Size      Modified              Mode\n"
        "-----------  --------  --------------------  ----------\n"
        f"big.bin      2.0 KiB   {when}  -rw-r--r--\n"
        f"reuse.txt    10 Bytes  {when}  -rw-r--r--\n"
    )
    assert result.stderr.endswith("\u2714 Retrived.\n")
    request = [r for r in backend.requests if r.path == "/session/mysess/files"][-1]
    assert request.json() == {"path": "/home/work"}
    failed = run_cli("ls", "mysess", "/nowhere")
    assert failed.exit_code == 1
    assert failed.stderr.endswith("\u2718 No such directory\n")


def test_natural_size() -> None:
    assert [natural_size(v) for v in (0, 1, 10, 1023, 1024, 1536, "52428800", 2**80)] == [
        "0 Bytes", "1 Byte", "10 Bytes", "1023 Bytes", "1.0 KiB", "1.5 KiB", "50.0 MiB",
        "1.0 YiB",
    ]  # fmt: skip


def test_format_stats_versions() -> None:
    v2 = {
        "cpu_util": {"current": "10.5", "pct": "10.5", "unit_hint": "percent"},
        "net_rx": {"current": "7", "unit_hint": "count"},
        "io": {"current": None, "unit_hint": "other"},
        "version": 2, "status": "terminated",
    }  # fmt: skip
    assert format_stats(v2).splitlines()[1:3] == ["cpu_util  10.5  %", "net_rx     7"]
    v1 = {"cpu_used": 1500, "mem_max_bytes": 1048576, "precpu_used": 3, "status": "x"}
    assert format_stats(v1).splitlines()[1:3] == [
        "cpu_used_msec  1,500",
        "mem_max_bytes  1.0 MiB",
    ]
