"""Exit statuses for scripts (issue 11, item 5): ``run`` exits like ``docker run``, and
``start``/``rm`` exit non-zero when the server refused or the session could not be used."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.client.conftest import run_cli
from tests.client.fake_server import FakeBackend
from tests.client.fake_sessions import finished

IMAGE = "python:3.9-ubuntu20.04"


@pytest.mark.parametrize(
    ("status", "slug"), [(400, "invalid-api-params"), (500, "internal-server-error")]
)
def test_run_refused_create_exits_1(
    api_mode: str, backend: FakeBackend, status: int, slug: str
) -> None:
    backend.sessions.create_error = (status, slug, "Refused.")
    result = run_cli("run", "-t", "mysess", "-c", "print(1)", IMAGE)
    assert result.exit_code == 1
    assert f"\u2718 [0] BackendAPIError: {status} " in result.stderr
    assert backend.sessions.exec_frames == []


@pytest.mark.parametrize(("code", "status"), [(0, 0), (3, 3), (255, 255), (256, 1), (-9, 1)])
def test_run_exits_with_the_code_exit_status(
    api_mode: str, backend: FakeBackend, code: int, status: int
) -> None:
    backend.sessions.exec_script = lambda first: [finished("out\n", exit_code=code)]
    result = run_cli("run", "-t", "mysess", "-c", "raise SystemExit(3)", IMAGE)
    # 256 would read as success to the shell (modulo 256), a signal as a negative code.
    assert result.exit_code == status
    assert result.stdout == "out\n"
    assert f"Execution finished. (exit code = {code})" in result.stderr


def test_run_batch_files_exit_with_the_exec_status(
    api_mode: str, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("main.py").write_text("raise SystemExit(4)\n")
    backend.sessions.exec_script = lambda first: [
        {"status": "build-finished", "console": [], "exitCode": 0},
        finished("", exit_code=4),
    ]
    result = run_cli("run", "-t", "mysess", "--exec", "python main.py", IMAGE, "main.py")
    assert result.exit_code == 4


def test_run_multi_case_with_one_failure_exits_1(
    api_mode: str, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calls = iter([0, 5, 0])
    backend.sessions.exec_script = lambda first: [finished("", exit_code=next(calls))]
    failed = run_cli(
        "run", "-t", "exp2", "-c", "1", "-e", "CASENO=$X", "--env-range=X=case:1,2,3",
        "--max-parallel", "1", IMAGE,
    )  # fmt: skip
    assert failed.exit_code == 1
    assert "\u2714 [1] Execution finished. (exit code = 5)" in failed.stderr
    assert failed.stderr.rstrip("\n").endswith("\u2718 There were failed cases!")


def test_run_multi_case_with_a_refused_create_exits_1(
    api_mode: str, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    backend.sessions.create_error = (400, "invalid-api-params", "Refused.")
    result = run_cli("run", "-c", "1", "-e", "A=$X", "--env-range=X=case:1,2", IMAGE)
    assert result.exit_code == 1
    assert "\u2718 There were failed cases!" in result.stderr


def test_start_refused_exits_1(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.create_error = (500, "internal-server-error", "Boom.")
    result = run_cli("start", "-t", "mysess", IMAGE)
    assert result.exit_code == 1
    assert result.stderr.startswith("\u2718 BackendAPIError: 500 Internal Server Error\n  Boom.")


def test_start_ending_in_error_prints_why_and_exits_1(api_mode: str, backend: FakeBackend) -> None:
    sid = str(uuid.uuid4())
    backend.sessions.create_answer = {
        "sessionId": sid, "sessionName": "mysess", "status": "ERROR", "created": True,
        "statusInfo": "bootstrap-failed",
        "statusData": {"error": {"reason": "bootstrap-failed",
                                 "message": "fatal: repository 'x' not found\n"}},
    }  # fmt: skip
    result = run_cli("start", "-t", "mysess", IMAGE)
    assert result.exit_code == 1
    assert result.stderr.replace("\r", "") == (
        f"\u2718 Session ID {sid} has an error during scheduling/startup or cancelled.\n"
        "\u2718 Reason: bootstrap-failed\n"
        "  fatal: repository 'x' not found\n"
    )


@pytest.mark.parametrize(("status", "exit_code"), [("CANCELLED", 1), ("PENDING", 0)])
def test_start_status_exit_codes(
    api_mode: str, backend: FakeBackend, status: str, exit_code: int
) -> None:
    backend.sessions.create_status = status
    result = run_cli("start", "-t", "mysess", "--enqueue-only", IMAGE)
    assert result.exit_code == exit_code


def test_start_batch_already_finished_exits_0(api_mode: str, backend: FakeBackend) -> None:
    sid = str(uuid.uuid4())
    backend.sessions.create_answer = {
        "sessionId": sid, "sessionName": "quick", "status": "TERMINATED", "created": True,
        "statusData": {"exit_code": 0},
    }  # fmt: skip
    result = run_cli("start", "--type", "batch", "-c", "true", "-t", "quick", IMAGE)
    assert result.exit_code == 0
    assert result.stderr.replace("\r", "") == (
        f"\u2219 Session ID {sid} has already run its task.\n"
        f'\u2219 Follow its output with "backend.ai task-logs {sid}".\n'
    )
    body = next(r.json() for r in backend.requests if r.path == "/session")
    assert (body["type"], body["startupCommand"]) == ("batch", "true")


def test_start_interactive_terminated_exits_1(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.create_status = "TERMINATED"
    assert run_cli("start", "-t", "mysess", IMAGE).exit_code == 1


def test_rm_of_an_unknown_session_exits_1(api_mode: str, backend: FakeBackend) -> None:
    assert run_cli("start", "-t", "known", IMAGE).exit_code == 0
    result = run_cli("rm", "known", "unknown")
    assert result.exit_code == 1
    assert "No such session." in result.stderr
    assert "known" not in backend.sessions.sessions  # the others are still terminated
