"""The in-container runner, started directly on the host (as a container starts it)."""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import platform
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from backendai.agent.runner.execution import NO_MAIN, SKIP_BUILD
from backendai.agent.runner_link import RunnerLink
from tests.agent.conftest import HostRunner, console


async def run(
    sock: Path,
    code: str = "",
    mode: str = "query",
    options: dict[str, Any] | None = None,
    inputs: list[str] | None = None,
    interrupt_after: float | None = None,
) -> list[dict[str, Any]]:
    link = await RunnerLink.connect(sock)
    pending = list(inputs or [])
    try:
        await link.send({"op": "run", "mode": mode, "code": code, "options": options or {}})
        if interrupt_after is not None:
            await asyncio.sleep(interrupt_after)
            await link.send({"op": "interrupt"})
        frames = []
        while line := await link.receive_line():
            frame = json.loads(line)
            frames.append(frame)
            if frame["status"] == "waiting-input":
                await link.send({"op": "input", "data": pending.pop(0)})
            if frame["status"] == "finished":
                break
        return frames
    finally:
        await link.close()


def batch(**options: Any) -> dict[str, Any]:
    return {"mode": "batch", "options": {"clean": "*", "build": "*", "exec": "*"} | options}


async def test_ping(host_runner: HostRunner) -> None:
    link = await RunnerLink.connect(host_runner.socket)
    assert await link.ping()
    await link.close()


async def test_frames_have_the_client_shape(host_runner: HostRunner) -> None:
    frames = await run(host_runner.socket, "print('hello')")
    assert frames == [
        {
            "status": "finished",
            "console": [["stdout", "hello\n"]],
            "exitCode": 0,
            "options": {},
            "files": [],
        }
    ]


async def test_globals_survive_between_runs(host_runner: HostRunner) -> None:
    await run(host_runner.socket, "x = 1\ndef f(): return x + 1")
    frames = await run(host_runner.socket, "print(x, f())")
    assert console(frames) == "1 2\n"


async def test_value_of_a_final_expression_is_shown(host_runner: HostRunner) -> None:
    assert console(await run(host_runner.socket, "a = 20\na * 2 + 2")) == "42\n"
    assert console(await run(host_runner.socket, "None")) == ""


async def test_runs_in_the_workdir(host_runner: HostRunner) -> None:
    (host_runner.workdir / "data.txt").write_text("content")
    frames = await run(
        host_runner.socket, "import os; print(os.getcwd()); print(open('data.txt').read())"
    )
    assert console(frames) == f"{host_runner.workdir}\ncontent\n"


async def test_input_asks_the_client(host_runner: HostRunner) -> None:
    code = "name = input('Name? ')\nprint('hello', name)"
    frames = await run(host_runner.socket, code, inputs=["bob"])
    assert frames[0]["status"] == "waiting-input"
    assert frames[0]["console"] == [["stdout", "Name? "]]
    assert frames[0]["options"] == {"is_password": False}
    assert frames[-1]["status"] == "finished" and frames[-1]["exitCode"] == 0
    assert console(frames[1:]) == "hello bob\n"


async def test_getpass_asks_for_a_password(host_runner: HostRunner) -> None:
    frames = await run(
        host_runner.socket,
        "import getpass; p = getpass.getpass(); print(len(p))",
        inputs=["secret"],
    )
    assert frames[0]["options"] == {"is_password": True}
    assert console(frames[1:]) == "6\n"


async def test_exception_prints_a_traceback_and_exits_1(host_runner: HostRunner) -> None:
    await run(host_runner.socket, "kept = 'yes'")
    frames = await run(host_runner.socket, "def g():\n    return 1 / 0\ng()")
    assert frames[-1]["exitCode"] == 1
    stderr = console(frames, "stderr")
    assert stderr.startswith("Traceback (most recent call last):")
    assert "ZeroDivisionError: division by zero" in stderr
    assert "return 1 / 0" in stderr  # the source line of the user's code
    assert "runner" not in stderr and "interpreter.py" not in stderr
    assert console(await run(host_runner.socket, "print(kept)")) == "yes\n"


async def test_syntax_error(host_runner: HostRunner) -> None:
    frames = await run(host_runner.socket, "x = = 1")
    assert frames[-1]["exitCode"] == 1
    assert "SyntaxError" in console(frames, "stderr")


async def test_sys_exit_gives_its_code_and_keeps_the_interpreter(host_runner: HostRunner) -> None:
    await run(host_runner.socket, "y = 5")
    assert (await run(host_runner.socket, "import sys; sys.exit(3)"))[-1]["exitCode"] == 3
    assert console(await run(host_runner.socket, "print(y)")) == "5\n"


async def test_output_of_subprocesses_is_captured(host_runner: HostRunner) -> None:
    frames = await run(host_runner.socket, "import os\n_ = os.system('echo out; echo err >&2')")
    assert console(frames) == "out\n" and console(frames, "stderr") == "err\n"


async def test_output_streams_while_code_runs(host_runner: HostRunner) -> None:
    code = "import time\nfor i in range(3):\n    print(i)\n    time.sleep(0.2)"
    frames = await run(host_runner.socket, code)
    continued = [f for f in frames if f["status"] == "continued"]
    assert len(continued) >= 2
    assert console(frames) == "0\n1\n2\n"


async def test_unicode_split_across_reads_survives(host_runner: HostRunner) -> None:
    frames = await run(host_runner.socket, "print('한글' * 50000)")
    assert console(frames) == "한글" * 50000 + "\n"


async def test_interrupt_stops_running_code(host_runner: HostRunner) -> None:
    started = time.monotonic()
    frames = await run(host_runner.socket, "import time; time.sleep(30)", interrupt_after=0.3)
    assert time.monotonic() - started < 5
    assert frames[-1]["exitCode"] == 1
    assert "KeyboardInterrupt" in console(frames, "stderr")
    assert console(await run(host_runner.socket, "print('alive')")) == "alive\n"


async def test_an_interrupt_right_after_the_code_is_not_lost(host_runner: HostRunner) -> None:
    """Ctrl-C before the interpreter has begun the code still stops it (it is held back)."""
    for _ in range(5):
        started = time.monotonic()
        frames = await run(host_runner.socket, "import time; time.sleep(30)", interrupt_after=0)
        assert time.monotonic() - started < 5
        assert "KeyboardInterrupt" in console(frames, "stderr")
        assert frames[-1]["exitCode"] == 1


TGKILL = {"x86_64": 234, "aarch64": 131}.get(platform.machine())


@pytest.mark.skipif(TGKILL is None, reason="tgkill's syscall number is known for x86_64/aarch64")
async def test_sigterm_to_any_thread_stops_the_runner(host_runner: HostRunner) -> None:
    """``docker stop`` may land SIGTERM on a connection thread; the runner must still exit
    at once rather than sleep in accept() until the engine's SIGKILL."""
    link = await RunnerLink.connect(host_runner.socket)
    try:
        await link.send({"op": "run", "mode": "query", "code": "import time; time.sleep(30)"})
        await asyncio.sleep(0.3)
        pid = host_runner.process.pid
        threads = [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
        assert threads  # at least the connection's thread
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.syscall(TGKILL, pid, threads[-1], signal.SIGTERM) == 0
        returncode = await asyncio.to_thread(host_runner.process.wait, 5)
        assert returncode == 0
    finally:
        await link.close()


async def test_a_dropped_connection_interrupts_its_run(host_runner: HostRunner) -> None:
    link = await RunnerLink.connect(host_runner.socket)
    await link.send({"op": "run", "mode": "query", "code": "import time; time.sleep(30)"})
    await asyncio.sleep(0.2)
    await link.close()
    started = time.monotonic()
    assert console(await run(host_runner.socket, "print(2)")) == "2\n"
    assert time.monotonic() - started < 5


async def test_a_dead_interpreter_is_replaced(host_runner: HostRunner) -> None:
    await run(host_runner.socket, "z = 1")
    frames = await run(host_runner.socket, "import os; os._exit(7)")
    assert frames[-1]["exitCode"] == 7
    assert "variables are lost" in console(frames, "stderr")
    frames = await run(host_runner.socket, "print(z)")
    assert "NameError" in console(frames, "stderr")
    assert console(await run(host_runner.socket, "print('fresh')")) == "fresh\n"


async def test_batch_heuristics_without_files(host_runner: HostRunner) -> None:
    frames = await run(host_runner.socket, **batch())
    assert [f["status"] for f in frames] == ["clean-finished", "build-finished", "finished"]
    assert [f["exitCode"] for f in frames] == [0, 0, 127]
    assert frames[1]["console"] == [["stderr", SKIP_BUILD]]
    assert SKIP_BUILD == (
        'python-kernel: python-kernel: skipping the build phase due to missing "setup.py" file\n'
    )
    assert frames[2]["console"] == [["stderr", NO_MAIN]]


async def test_batch_runs_main_py(host_runner: HostRunner) -> None:
    (host_runner.workdir / "main.py").write_text("import sys\nprint('this is my code', sys.argv)\n")
    frames = await run(host_runner.socket, **batch())
    assert frames[-1]["status"] == "finished" and frames[-1]["exitCode"] == 0
    assert console(frames[-1:]) == "this is my code ['main.py']\n"


async def test_batch_exec_command_and_exit_code(host_runner: HostRunner) -> None:
    (host_runner.workdir / "mycode.py").write_text("print('args', __import__('sys').argv[1:])\n")
    frames = await run(host_runner.socket, **batch(exec="python3 mycode.py a1; exit 3"))
    assert frames[-1]["exitCode"] == 3
    assert console(frames) == "args ['a1']\n"
    assert console(frames, "stderr") == SKIP_BUILD


async def test_batch_stops_at_a_failing_build(host_runner: HostRunner) -> None:
    frames = await run(
        host_runner.socket, **batch(build="echo building; exit 2", exec="echo never")
    )
    assert [f["status"] for f in frames] == ["clean-finished", "finished"]
    assert frames[-1]["exitCode"] == 2
    assert "never" not in console(frames)


async def test_batch_null_or_empty_steps_are_skipped(host_runner: HostRunner) -> None:
    frames = await run(host_runner.socket, **batch(clean=None, build="", exec="echo done"))
    assert [f["exitCode"] for f in frames] == [0, 0, 0]
    assert console(frames) == "done\n"


async def test_batch_interrupt(host_runner: HostRunner) -> None:
    started = time.monotonic()
    frames = await run(host_runner.socket, **batch(exec="sleep 30"), interrupt_after=0.3)
    assert time.monotonic() - started < 5
    assert frames[-1]["exitCode"] == 130  # 128 + SIGINT


async def test_batch_does_not_wait_for_background_jobs(host_runner: HostRunner) -> None:
    started = time.monotonic()
    frames = await run(host_runner.socket, **batch(exec="sleep 30 & echo started"))
    assert time.monotonic() - started < 5
    assert console(frames) == "started\n"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc on the host")
async def test_batch_builds_and_runs_a_c_program(host_runner: HostRunner) -> None:
    source = '#include <stdio.h>\nint main(void) { printf("hello from C\\n"); return 0; }\n'
    (host_runner.workdir / "hello.c").write_text(source)
    frames = await run(host_runner.socket, **batch(build="gcc -o hello hello.c", exec="./hello"))
    assert [(f["status"], f["exitCode"]) for f in frames] == [
        ("clean-finished", 0),
        ("build-finished", 0),
        ("finished", 0),
    ]
    assert console(frames) == "hello from C\n"
