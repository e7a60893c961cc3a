"""``backend.ai run``: output lines, uploads, input, --rm, creation failures, Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import run_cli
from tests.client.fake_server import FakeBackend
from tests.client.fake_sessions import Expect, Step, WaitInterrupt, finished

IMAGE = "lablup/python-tensorflow:2.3-py36-cuda10.1"


def _lines(text: str) -> list[str]:
    """Lines without the \\r that ends each status line (a waiting line has no newline)."""
    return [line.removesuffix("\r") for line in text.split("\n")][:-1]


def test_run_code(api_mode: str, backend: FakeBackend) -> None:
    result = run_cli("run", "-t", "mysess", "-c", "print('hello')", IMAGE)
    assert result.exit_code == 0
    assert result.stdout == "hello\n"
    assert _lines(result.stderr) == [
        "\u2219 Session name prefix: mysess",
        "\u2714 [0] Session mysess is ready (domain=default, group=default).",
        "\u2714 [0] Execution finished. (exit code = 0)",
    ]
    sid = backend.sessions.sessions["mysess"].id
    assert [p for p in backend.paths() if "/session" in p] == [
        "POST /session",
        f"GET /stream/session/{sid}/execute",
    ]
    assert backend.sessions.exec_frames == [
        {"code": "print('hello')", "mode": "query", "options": {}}
    ]


def test_run_generates_a_name_and_reuses(api_mode: str, backend: FakeBackend) -> None:
    first = run_cli("run", "-c", "x=1", IMAGE)
    name = _lines(first.stderr)[0].removeprefix("\u2219 Session name prefix: ")
    assert name.startswith("pysdk-") and len(name) == 16
    again = run_cli("run", "-t", name, "-c", "print(x)", IMAGE)
    assert _lines(again.stderr)[1] == f"\u2714 [0] Reusing session {name}..."


def test_run_files_with_rm(
    api_mode: str, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("mycode.py").write_text("print('this is my code')\n")
    result = run_cli(
        "run", "--rm", "-t", "mysess", "--exec", "python mycode.py", IMAGE, "mycode.py"
    )
    assert result.exit_code == 0
    assert result.stdout == "this is my code\n"
    err = result.stderr
    assert "\u22ef [0] Uploading source files...\r" in err
    assert "Uploading files: 100%|" in err and "file=mycode.py" in err
    assert _lines(err)[1] == "\u2714 [0] Session mysess is ready (domain=default, group=default)."
    assert _lines(err.split("Uploading files: 100%")[-1])[1:] == [
        "\u2714 [0] Uploading done.",
        "\u2714 [0] Clean finished. (exit code = 0)",
        "skipping build",
        "\u2714 [0] Build finished. (exit code = 0)",
        "\u2714 [0] Execution finished. (exit code = 0)",
        "\u22ef [0] Cleaning up the session...\r\u2714 [0] Cleaned up the session.",
    ]
    assert backend.sessions.exec_frames == [
        {
            "code": "", "mode": "batch",
            "options": {"clean": "*", "build": "*", "buildLog": False, "exec": "python mycode.py"},
        }
    ]  # fmt: skip
    assert backend.paths()[-1] == "DELETE /session/mysess"
    assert "mysess" not in backend.sessions.sessions


def test_run_files_default_commands_and_basedir(
    api_mode: str, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "main.py").write_text("print(1)\n")
    monkeypatch.chdir(tmp_path)
    result = run_cli(
        "run", "-t", "mysess", "--basedir", "proj", "--clean", "rm -rf x", "--build", "make",
        IMAGE, "proj/main.py",
    )  # fmt: skip
    assert result.exit_code == 0
    assert backend.sessions.sessions["mysess"].uploads == {"main.py": b"print(1)\n"}
    options = backend.sessions.exec_frames[0]["options"]
    assert options == {"clean": "rm -rf x", "build": "make", "buildLog": False, "exec": "*"}


def test_run_creation_options(api_mode: str, backend: FakeBackend, tmp_path: Path) -> None:
    script = tmp_path / "boot.sh"
    script.write_text("echo boot\n")
    result = run_cli(
        "run", "-t", "mysess", "-c", "1", "-r", "cpu=3", "-r", "mem=2g", "-r", "cuda.shares=0.5",
        "-e", "A=1", "-e", "B=x=y", "-m", "myfolder", "-m", "data=/home/work/d",
        "-v", "x:/home/work/x",
        "--resource-opts", "shmem=64m", "-d", "dom", "-g", "grp", "--type", "interactive",
        "--starts-at", "1h", "--enqueue-only", "--max-wait", "30", "--no-reuse",
        "--scaling-group", "sg", "--cluster-size", "2", "--cluster-mode", "multi-node",
        "--preopen", "8000,8001", "--tag", "t", "--bootstrap-script", str(script), IMAGE,
    )  # fmt: skip
    assert result.exit_code == 0
    body = next(r.json() for r in backend.requests if r.path == "/session")
    assert body == {
        "tag": "t", "name": "mysess",
        "config": {
            "mounts": ["myfolder", "data", "x"], "environ": {"A": "1", "B": "x=y"},
            "resources": {"cpu": "3", "mem": "2g", "cuda.shares": "0.5"},
            "resource_opts": {"shmem": "64m"}, "scalingGroup": "sg",
            "mount_map": {"data": "/home/work/d", "x": "/home/work/x"},
            "preopen_ports": [8000, 8001],
        },
        "clusterSize": 2, "clusterMode": "multi-node", "starts_at": "1h",
        "bootstrap_script": "echo boot\n", "owner_access_key": None,
        "domain": "dom", "group": "grp", "type": "interactive", "enqueueOnly": True,
        "maxWaitSeconds": 30, "reuseIfExists": False, "startupCommand": None, "image": IMAGE,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("status", "line", "exit_code"),
    [
        ("PENDING", "\u2219 Session ID mysess is enqueued for scheduling.", 0),
        ("SCHEDULED", "\u2219 Session ID mysess is scheduled and about to be started.", 0),
        # Not run: the session did not start in --max-wait, or ended instead of starting.
        ("TIMEOUT", "\u2219 Session ID mysess is still on the job queue.", 1),
        ("CANCELLED",
         "\u2718 Session ID mysess has an error during scheduling/startup or cancelled.", 1),
    ],
)  # fmt: skip
def test_run_without_a_running_session(
    api_mode: str, backend: FakeBackend, status: str, line: str, exit_code: int
) -> None:
    backend.sessions.create_status = status
    result = run_cli("run", "-t", "mysess", "--enqueue-only", "-c", "print(1)", IMAGE)
    assert result.exit_code == exit_code
    assert _lines(result.stderr)[1] == line
    assert backend.sessions.exec_frames == []  # nothing was executed


def test_run_creation_failure_exits_1(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.create_error = (400, "invalid-api-params", "Unknown resource slot.")
    result = run_cli("run", "-t", "mysess", "-r", "tpu=1", "-c", "print(1)", IMAGE)
    assert result.exit_code == 1  # Backend.AI's client exits 0 here; scripts need to know
    lines = _lines(result.stderr)
    assert lines[1] == "\u2718 [0] BackendAPIError: 400 Bad Request"
    assert lines[2] == "  Unknown resource slot."


def test_run_argument_errors(api_mode: str, backend: FakeBackend, tmp_path: Path) -> None:
    both = run_cli("run", "-c", "1", IMAGE, str(tmp_path))
    assert both.exit_code == 1
    assert both.stderr == "You can run only either source files or command-line code snippet.\n"
    neither = run_cli("run", IMAGE)
    assert neither.exit_code == 1 and '"-c" option' in neither.stderr
    bad_pair = run_cli("run", "-r", "cpu", "-c", "1", IMAGE)
    assert bad_pair.exit_code == 2 and "'cpu' is not KEY=VALUE" in bad_pair.stderr
    assert backend.sessions.exec_frames == []


def test_run_answers_input_from_the_terminal(api_mode: str, backend: FakeBackend) -> None:
    def script(first: dict[str, Any]) -> list[Step]:
        return [
            {"status": "waiting-input", "console": [["stdout", "your name? "]], "options": {}},
            Expect(lambda line: finished(f"hello, {line}!\n")),
        ]

    backend.sessions.exec_script = script
    result = run_cli("run", "-t", "mysess", "-c", "input()", IMAGE, input="LABLUP\n")
    assert result.exit_code == 0
    assert result.stdout == "your name? hello, LABLUP!\n"
    assert backend.sessions.exec_inputs == ["LABLUP"]


def test_run_input_at_eof_fails(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.exec_script = lambda first: [
        {"status": "waiting-input", "console": [], "options": {}},
        Expect(),
    ]
    result = run_cli("run", "--rm", "-t", "mysess", "-c", "input()", IMAGE, input="")
    assert result.exit_code == 1
    assert "\u2718 [0] The program asked for input, but the standard input is closed." in (
        result.stderr
    )
    assert "\u2714 [0] Cleaned up the session." in result.stderr  # --rm still cleans up


def test_run_output_records_and_exit_code(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.exec_script = lambda first: [
        {"status": "continued", "console": [["stderr", "warn\n"], ["html", "<b>x</b>"]]},
        finished("", exit_code=1, files=[{"name": "out.png", "url": "http://s/out.png"}]),
    ]
    result = run_cli("run", "-t", "mysess", "-c", "raise SystemExit(1)", IMAGE)
    assert result.exit_code == 1  # the program's exit code, as docker run gives it
    assert result.stdout == (
        "----- output record (type: html) -----\n<b>x</b>\n----- end of record -----\n"
        "--- generated files ---\nout.png: http://s/out.png\n--- end of generated files ---\n"
    )
    assert "warn\n" in result.stderr
    assert "Execution finished. (exit code = 1)" in result.stderr


def test_run_quiet_and_stats(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.destroy_stats = {
        "cpu_used": {"current": "1234", "capacity": None, "unit_hint": "msec"},
        "mem": {"current": "52428800", "capacity": "1073741824", "unit_hint": "bytes",
                "stats.max": "52428800"},
        "version": 2, "status": "terminated",
    }  # fmt: skip
    quiet = run_cli("run", "-q", "--rm", "-s", "-t", "mysess", "-c", "1", IMAGE)
    assert quiet.exit_code == 0
    assert quiet.stdout == (
        "hello\n"
        "\u2219 [0] Statistics:\n"
        "--------  -------  ----\n"
        "cpu_used  1,234    msec\n"
        "mem          50.0  MiB\n"
        "--------  -------  ----\n"
    )
    assert quiet.stderr == ""


def test_run_execution_failure_exits_1(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.exec_refused = {"mysess"}
    result = run_cli("run", "--rm", "-t", "mysess", "-c", "1", IMAGE)
    assert result.exit_code == 1
    lines = _lines(result.stderr)
    assert lines[2].startswith("\u2718 [0] 404 Not Found: The server refused the WebSocket")
    assert lines[-1].endswith("\u2714 [0] Cleaned up the session.")


def test_run_ctrl_c_interrupts_the_code(api_mode: str, backend: FakeBackend) -> None:
    def script(first: dict[str, Any]) -> list[Step]:
        return [
            {"status": "continued", "console": [["stdout", "working\n"]]},
            WaitInterrupt(),
            finished("", exit_code=1) | {"console": [["stderr", "KeyboardInterrupt\n"]]},
        ]

    def press_ctrl_c(frame: dict[str, Any]) -> None:
        if frame["status"] == "continued":
            threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()

    backend.sessions.exec_script = script
    backend.sessions.on_frame_sent = press_ctrl_c
    result = run_cli("run", "-t", "mysess", "-c", "while True: pass", IMAGE)
    assert result.exit_code == 1  # the interrupted code's exit code
    assert result.stdout == "working\n"
    assert "\u2219 Interrupting the running code... (press Ctrl-C again to abort)" in (
        result.stderr
    )
    assert "KeyboardInterrupt\n" in result.stderr
    assert "Execution finished. (exit code = 1)" in result.stderr
    assert backend.sessions.interrupts == 1
    assert "mysess" in backend.sessions.sessions  # the session is kept
    assert "POST /session/mysess/interrupt" in backend.paths()


def test_run_second_ctrl_c_aborts(api_mode: str, backend: FakeBackend) -> None:
    def press_ctrl_c_twice(frame: dict[str, Any]) -> None:
        for delay in (0.1, 0.4):
            threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT)).start()

    backend.sessions.exec_script = lambda first: [
        {"status": "continued", "console": [["stdout", "stuck\n"]]},
        Expect(),  # never answered: the code ignores the interrupt
    ]
    backend.sessions.on_frame_sent = press_ctrl_c_twice
    result = run_cli("run", "--rm", "-t", "mysess", "-c", "while True: pass", IMAGE)
    assert result.exit_code == 130
    assert backend.sessions.interrupts == 1
    assert "\u2714 [0] Cleaned up the session." in result.stderr  # --rm still honoured
    assert _lines(result.stderr)[-1] == "\u2718 Aborted."


def test_run_parametric_cases(
    api_mode: str, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    result = run_cli(
        "run", "-t", "exp", "-c", "import os", "-e", "CASENO=$X", "--env-range=X=case:1,2,3,4",
        "--max-parallel", "2", IMAGE,
    )  # fmt: skip
    assert result.exit_code == 0
    assert result.stdout == "".join(
        f"env = 'CASENO={i}', build = '*', exec = '*'\n" for i in (1, 2, 3, 4)
    )
    bodies = [r.json() for r in backend.requests if r.path == "/session"]
    assert sorted((b["name"], b["config"]["environ"]["CASENO"]) for b in bodies) == [
        ("exp-0", "1"), ("exp-1", "2"), ("exp-2", "3"), ("exp-3", "4"),
    ]  # fmt: skip
    logs = tmp_path / "cache" / "backend.ai" / "client-logs"
    assert (logs / "exp-2.stdout.log").read_text() == "hello\n"
    assert (logs / "exp-2.stderr.log").read_text() == "Execution finished. (exit code = 0)\n"
    assert "\u2714 [3] Execution finished. (exit code = 0)" in result.stderr
    assert backend.sessions.exec_peak <= 2  # --max-parallel


def test_run_parametric_failures(
    api_mode: str, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    Path("main.py").write_text("print(1)\n")
    backend.sessions.exec_refused = {"exp-1"}
    result = run_cli(
        "run", "-t", "exp", "--exec", "python main.py $N", "--exec-range", "N=range:1,3",
        "--max-parallel", "1", IMAGE, "main.py",
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stdout == (
        "env = '', build = '*', exec = 'python main.py 1'\n"
        "env = '', build = '*', exec = 'python main.py 2'\n"
    )
    assert "\u2718 [1] 404 Not Found" in result.stderr
    assert _lines(result.stderr)[-1] == "\u2718 There were failed cases!"
    assert backend.sessions.exec_frames[0]["options"]["exec"] == "python main.py 1"
    assert backend.sessions.sessions["exp-0"].uploads == {"main.py": b"print(1)\n"}
    assert backend.sessions.exec_peak == 1


def test_run_undefined_template_variable(api_mode: str, backend: FakeBackend) -> None:
    result = run_cli("run", "-c", "1", "-e", "P=$HOME/bin", IMAGE)
    assert result.exit_code == 1
    assert result.stderr == (
        "\u2718 -e P uses $HOME, but no range defines it (write $$ for a literal $).\n"
    )
    assert backend.sessions.exec_frames == []


def test_run_range_expression_errors(api_mode: str) -> None:
    for expr in ("X", "1X=case:1", "X=foo:1", "X=range:a,b", "X=linspace:1,2"):
        result = run_cli("run", "-c", "1", "--env-range", expr, IMAGE)
        assert result.exit_code == 2, expr
        assert "Invalid value for '--env-range'" in result.stderr
