"""Batch sessions on the real Docker Engine (issue 11, item 2; seed 001's ``start --type batch``
and ``task-logs``): the command runs once, the session ends by itself with the command's exit
code as its result, and its output stays readable after it ended.

``start`` and ``ps`` run through both CLIs; the log is read with ``task-logs`` of the official
client (the wire contract, API_CONTRACT §2.12) and of ours where it has the command.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.compat.conftest import OFFICIAL, OURS, Runner, api_env
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.compat, pytest.mark.docker]

DEADLINE_S = 120


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_ended(cli: Runner, server: LiveServer, name: str) -> tuple[str, str, str]:
    """(session id, status, result) once ``ps`` shows the session ended."""
    deadline = time.monotonic() + DEADLINE_S
    row: list[str] = []
    while time.monotonic() < deadline:
        r = cli("ps", "-s", "ALL", "-f", "name,session_id,status,result", env=api_env(server))
        row = next((line.split() for line in r.stdout.splitlines()
                    if line.split()[:1] == [name]), [])  # fmt: skip
        if row and row[2] in ("TERMINATED", "CANCELLED", "ERROR"):
            return row[1], row[2], row[3]
        time.sleep(1)
    raise AssertionError(f"{name} did not end within {DEADLINE_S} s: {row}")


def task_logs(server: LiveServer, task_id: str, tmp_path: Path) -> list[str]:
    """The log as each CLI that has ``task-logs`` prints it."""
    outputs = []
    for exe in (OFFICIAL, OURS):
        if not exe.exists():
            continue
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
        r = subprocess.run(
            [str(exe), "task-logs", task_id], capture_output=True, text=True,
            env=env | api_env(server), timeout=60, check=False,
        )  # fmt: skip
        if exe == OURS and "No such command" in r.stderr:
            continue  # our CLI's task-logs is not there yet
        assert r.returncode == 0, (exe, r.stderr)
        outputs.append(r.stdout)
    assert outputs, "no CLI with task-logs"
    return outputs


def start_batch(cli: Runner, server: LiveServer, name: str, *extra: str) -> None:
    # The session may have ended before the answer came: the outcome is read from ps.
    cli("start", "--type", "batch", "-t", name, *extra, "python", env=api_env(server))


def test_exit_0_succeeds_with_its_output(
    cli: Runner, live_server: LiveServer, tmp_path: Path
) -> None:
    name = unique("batch-ok")
    start_batch(cli, live_server, name, "-c", "echo hi; exit 0")
    sid, status, result = wait_ended(cli, live_server, name)
    assert (status, result) == ("TERMINATED", "SUCCESS")
    for out in task_logs(live_server, sid, tmp_path):
        assert out == "hi\n"


def test_exit_3_fails_with_its_output(cli: Runner, live_server: LiveServer, tmp_path: Path) -> None:
    name = unique("batch-bad")
    start_batch(cli, live_server, name, "-c", "echo out; echo bad >&2; exit 3")
    sid, status, result = wait_ended(cli, live_server, name)
    assert (status, result) == ("TERMINATED", "FAILURE")
    for out in task_logs(live_server, sid, tmp_path):
        assert "out\n" in out and "bad\n" in out
    info = cli("info", sid, env=api_env(live_server))
    assert '"exit_code": 3' in info.stdout, info.stdout


def test_bootstrap_runs_before_the_command(
    cli: Runner, live_server: LiveServer, tmp_path: Path
) -> None:
    script = tmp_path / "bootstrap.sh"
    script.write_text("echo from-bootstrap > /home/work/boot.txt\n")
    name = unique("batch-boot")
    start_batch(
        cli, live_server, name, "--bootstrap-script", str(script), "-c", "cat /home/work/boot.txt"
    )
    sid, status, result = wait_ended(cli, live_server, name)
    assert (status, result) == ("TERMINATED", "SUCCESS")
    for out in task_logs(live_server, sid, tmp_path):
        assert out == "from-bootstrap\n"
