"""``task-logs``, ``run --type batch`` (a server-side sweep) and ``start --type batch``."""

from __future__ import annotations

import os
import signal
import threading
import uuid
from pathlib import Path

import pytest

from backendai.client.cli import sweep_run
from backendai.common.batch_tasks import SweepCase
from backendai.common.sweep_ranges import Case
from tests.client.conftest import run_cli
from tests.client.fake_server import FakeBackend

IMAGE = "python:3.9-ubuntu20.04"


def _lines(text: str) -> list[str]:
    return [line.removesuffix("\r") for line in text.split("\n")][:-1]


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(sweep_run, "POLL_INTERVAL", 0.01)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "backend.ai" / "client-logs"


# -- task-logs ----------------------------------------------------------------------------


def test_task_logs_streams_the_raw_log(api_mode: str, backend: FakeBackend) -> None:
    task_id = uuid.uuid4()
    # Not UTF-8 and split inside a character: written as received, byte for byte.
    raw = "step 1\nstep 2 \u2714\n".encode() + b"\xff\xfe binary\n"
    backend.sweeps.task_logs[task_id] = [raw[i : i + 5] for i in range(0, len(raw), 5)]
    result = run_cli("task-logs", str(task_id))
    assert result.exit_code == 0
    assert result.stdout_bytes == raw
    assert result.stderr == ""
    assert backend.sweeps.log_queries == [{"taskId": str(task_id), "follow": "1"}]
    assert backend.paths()[-1] == f"GET /session/_/logs?taskId={task_id}&follow=1"


def test_task_logs_no_follow(api_mode: str, backend: FakeBackend) -> None:
    task_id = uuid.uuid4()
    backend.sweeps.task_logs[task_id] = [b"so far\n"]
    result = run_cli("task-logs", "--no-follow", str(task_id))
    assert (result.exit_code, result.stdout) == (0, "so far\n")
    assert backend.sweeps.log_queries == [{"taskId": str(task_id), "follow": "0"}]


def test_task_logs_unknown_task(api_mode: str, backend: FakeBackend) -> None:
    result = run_cli("task-logs", str(uuid.uuid4()))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "\u2718 BackendAPIError: 404 Not Found\n  No such task.\n"


def test_task_logs_arguments(api_mode: str, backend: FakeBackend) -> None:
    bad = run_cli("task-logs", "not-a-uuid")
    assert bad.exit_code == 2 and "'not-a-uuid' is not a valid UUID" in bad.stderr
    assert backend.sweeps.log_queries == []
    helped = run_cli("task-logs", "--help")
    assert "Shows the output logs of a batch task." in helped.stdout
    assert "--no-follow" in helped.stdout


# -- run --type batch: one case -----------------------------------------------------------


@pytest.mark.parametrize("exit_code", [0, 3])
def test_run_batch_one_case(api_mode: str, backend: FakeBackend, exit_code: int) -> None:
    backend.sweeps.outcome = lambda index, case: (exit_code, b"hello from the task\n")
    result = run_cli("run", "--type", "batch", "-t", "job", "-c", "print('hi')", IMAGE)
    assert result.exit_code == exit_code
    assert result.stdout == "hello from the task\n"
    sweep = backend.sweeps.only()
    (case,) = sweep.cases
    outcome = "\u2714 [0] job-0 SUCCESS" if exit_code == 0 else (
        "\u2718 [0] job-0 FAILURE (exit code 3)"
    )  # fmt: skip
    assert _lines(result.stderr) == [
        f"\u2219 Running 1 cases as a server-side sweep {sweep.id} ...",
        outcome,
    ]
    assert backend.sweeps.log_queries == [{"taskId": str(case.id), "follow": "1"}]
    assert not backend.sessions.sessions  # nothing created through POST /session
    assert backend.sessions.exec_frames == []


def test_run_batch_sends_the_request(
    api_mode: str, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKEND_VFOLDER_MOUNTS", "always")
    script = tmp_path / "boot.sh"
    script.write_text("echo boot\n")
    result = run_cli(
        "run", "--type", "batch", "--enqueue-only", "-t", "exp", "--exec", "python m.py $N",
        "--build", "make", "--clean", "rm -rf out", "-e", "CASENO=$X", "-e", "A=1",
        "--env-range=X=case:1,2", "--exec-range", "N=range:1,3", "-r", "cpu=1", "-r", "mem=1g",
        "-m", "data=/home/work/d", "--resource-opts", "shmem=64m", "--scaling-group", "sg",
        "--tag", "t", "--bootstrap-script", str(script), "--starts-at", "1h", IMAGE,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = next(r.json() for r in backend.requests if r.path == "/session/_/sweeps")
    assert body == {
        "name": "exp", "image": IMAGE, "clean": "rm -rf out", "build": "make",
        "exec": "python m.py $N", "environ": {"CASENO": "$X", "A": "1"},
        "env_range": ["X=case:1,2"], "build_range": [], "exec_range": ["N=range:1,3"],
        "config": {
            "mounts": ["data", "always"], "mount_map": {"data": "/home/work/d"},
            "resources": {"cpu": "1", "mem": "1g"}, "resource_opts": {"shmem": "64m"},
            "scalingGroup": "sg", "preopen_ports": [],
        },
        "tag": "t", "bootstrap_script": "echo boot\n", "starts_at": "1h",
        "domain": "default", "group": "default",
    }  # fmt: skip
    sweep = backend.sweeps.only()
    # --enqueue-only: the sweep ID alone on stdout (for scripts), nothing followed.
    assert result.stdout == f"{sweep.id}\n"
    assert _lines(result.stderr) == [
        f"\u2219 Running 4 cases as a server-side sweep {sweep.id} ...",
        f'\u2219 Check its progress with "backend.ai sweep info {sweep.id}".',
    ]
    assert backend.sweeps.log_queries == []
    assert [c.environ["CASENO"] for c in sweep.cases] == ["1", "1", "2", "2"]


def test_run_batch_refuses_files_and_missing_code(
    api_mode: str, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("main.py").write_text("print(1)\n")
    files = run_cli("run", "--type", "batch", "--exec", "python main.py", IMAGE, "main.py")
    assert files.exit_code == 1
    assert files.stderr.startswith(
        "\u2718 FILES cannot be used with --type batch: the cases run on the server, "
        "without this client.\n  Put the files in a virtual folder and mount it with -m FOLDER"
    )
    nothing = run_cli("run", "--type", "batch", IMAGE)
    assert nothing.exit_code == 1
    assert "A batch run needs the code to run: -c CODE, or --exec COMMAND." in nothing.stderr
    bad_range = run_cli("run", "--type", "batch", "-c", "1", "--env-range", "X=range:1,2,0", IMAGE)
    assert bad_range.exit_code == 2
    assert "Invalid value for '--env-range'" in bad_range.stderr
    assert "its step must not be zero" in bad_range.stderr
    assert not backend.sweeps.sweeps


def test_run_batch_refused_by_the_server(api_mode: str, backend: FakeBackend) -> None:
    backend.sweeps.create_error = (400, "invalid-api-params", "-e X uses $Y, but no range.")
    result = run_cli("run", "--type", "batch", "-c", "1", "-e", "X=$Y", IMAGE)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "\u2718 BackendAPIError: 400 Bad Request\n  -e X uses $Y, but no range."
    )


# -- run --type batch: several cases ------------------------------------------------------


def test_run_batch_many_cases(api_mode: str, backend: FakeBackend, fast_polls: Path) -> None:
    def outcome(index: int, case: Case) -> tuple[int, bytes]:
        return (2 if index == 1 else 0), f"case {dict(case.envs)['CASENO']}\n".encode()

    backend.sweeps.outcome = outcome
    result = run_cli(
        "run", "--type", "batch", "-t", "exp", "-c", "import os", "-e", "CASENO=$X",
        "--env-range=X=case:1,2,3", IMAGE,
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stdout == ""
    sweep = backend.sweeps.only()
    assert _lines(result.stderr) == [
        f"\u2219 Running 3 cases as a server-side sweep {sweep.id} ...",
        f"\u2219 Check out the task logs stored in {fast_polls} directory.",
        "\u2714 [0] exp-0 SUCCESS",
        "\u2718 [1] exp-1 FAILURE (exit code 2)",
        "\u2714 [2] exp-2 SUCCESS",
        f"\u2219 Sweep exp ({sweep.id}): 3 cases, 0 pending, 0 running, 2 success, 1 failure, "
        "0 cancelled (finished)",
        "\u2718 There were failed cases!",
    ]
    assert {p.name: p.read_text() for p in fast_polls.iterdir()} == {
        "exp-0.log": "case 1\n", "exp-1.log": "case 2\n", "exp-2.log": "case 3\n",
    }  # fmt: skip
    # Ended cases' logs are fetched once, whole, without following.
    assert sorted(q["follow"] for q in backend.sweeps.log_queries) == ["0", "0", "0"]


def test_run_batch_many_cases_all_succeed(
    api_mode: str, backend: FakeBackend, fast_polls: Path
) -> None:
    result = run_cli(
        "run", "--type", "batch", "-q", "-t", "ok", "--exec", "echo $N", "--exec-range",
        "N=case:a,b", IMAGE,
    )  # fmt: skip
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert sorted(p.name for p in fast_polls.iterdir()) == ["ok-0.log", "ok-1.log"]


def test_run_batch_ctrl_c_stops_following_only(api_mode: str, backend: FakeBackend) -> None:
    backend.sweeps.advance = False  # the sweep never ends
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    result = run_cli(
        "run", "--type", "batch", "-t", "long", "-c", "1", "-e", "X=$N",
        "--env-range", "N=case:1,2", IMAGE,
    )  # fmt: skip
    assert result.exit_code == 130
    sweep = backend.sweeps.only()
    assert _lines(result.stderr)[-3:] == [
        "\u2219 Stopped following. The sweep goes on on the server; check it later with",
        f"    backend.ai sweep info {sweep.id}",
        "    backend.ai task-logs <session ID of a case, as sweep info shows it>",
    ]
    assert "DELETE" not in " ".join(backend.paths())  # nothing was cancelled


def test_run_batch_one_case_ctrl_c_says_how_to_see_it(api_mode: str, backend: FakeBackend) -> None:
    backend.sweeps.advance = False
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    result = run_cli("run", "--type", "batch", "-t", "slow", "-c", "1", IMAGE)
    assert result.exit_code == 130
    sweep = backend.sweeps.only()
    assert result.stdout == "case 0 \n"  # what the log had when it was followed
    assert _lines(result.stderr)[-2:] == [
        f"    backend.ai sweep info {sweep.id}",
        f"    backend.ai task-logs {sweep.cases[0].id}",
    ]


@pytest.mark.parametrize(
    ("name", "file"),
    [("exp-3", "exp-3.log"), ("../../x", "case-3.log"), ("..", "case-3.log"),
     ("a/b", "case-3.log"), ("", "case-3.log")],
)  # fmt: skip
def test_case_log_names_stay_in_the_log_dir(tmp_path: Path, name: str, file: str) -> None:
    case = SweepCase(
        index=3, session_id=uuid.uuid4(), session_name=name, environ={}, task="",
        status="TERMINATED", result="SUCCESS",
    )  # fmt: skip
    assert sweep_run._log_path(tmp_path, case) == tmp_path / file  # the name is the server's
