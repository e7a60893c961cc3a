"""Compute sessions on the real Docker Engine through both CLIs (seeds 000 and 002).

Each test names its sessions after the CLI under test so the two runs never collide, and
removes what it made.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.compat.conftest import Runner, api_env, session_env
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.compat, pytest.mark.docker]

# Reads whichever cgroup files exist (v1 as in seed 000, or v2).
RESOURCES_PY = """
import os

def first(*paths):
    for p in paths:
        if os.path.exists(p):
            return open(p).read().strip()

mem = first("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max")
print("Memory: {} MiB".format(int(mem) // 2**20))
cpus = first("/sys/fs/cgroup/cpuset/cpuset.cpus", "/sys/fs/cgroup/cpuset.cpus.effective")
count = 0
for part in cpus.split(","):
    lo, _, hi = part.partition("-")
    count += int(hi or lo) - int(lo) + 1
print("Number of CPU(s): {}".format(count))
"""

HELLO_C = '#include <stdio.h>\nint main(void) { printf("hello from C\\n"); return 0; }\n'


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def names_of(cli: Runner, server: LiveServer, *flags: str) -> list[str]:
    r = cli("ps", "--name-only", *flags, env=api_env(server))
    return r.stdout.split()


def wait_gone(cli: Runner, server: LiveServer, name: str, timeout: float = 30.0) -> None:
    """``rm`` answers at TERMINATING; the container is removed in the background after that."""
    deadline = time.monotonic() + timeout
    while name in names_of(cli, server):
        assert time.monotonic() < deadline, f"{name} is still listed {timeout:.0f} s after rm"
        time.sleep(0.5)


def test_run_inline_code_then_rm(cli: Runner, live_server: LiveServer) -> None:
    env = api_env(live_server)
    name = unique("inline")
    r = cli("run", "-t", name, "-c", "print('hello')", "python", env=env)
    assert "hello\n" in r.stdout, r.stderr
    assert f"Session {name} is ready" in r.stderr
    assert "Execution finished. (exit code = 0)" in r.stderr
    ps = cli("ps", "-f", "name,occupied_slots,status,image", env=env)
    row = next(line for line in ps.stdout.splitlines() if line.startswith(name))
    assert "RUNNING" in row and "backendai/python" in row
    assert re.search(r'\{"cpu": "1", "mem": "\d+"\}', row)
    r = cli("rm", name, env=env)
    assert r.returncode == 0 and "Done." in r.stderr
    wait_gone(cli, live_server, name)
    assert name in names_of(cli, live_server, "--dead")


def test_query_mode_keeps_state_and_survives_crashes(cli: Runner, live_server: LiveServer) -> None:
    env = api_env(live_server)
    name = unique("state")
    cli("run", "-t", name, "-c", "x = 41", "python", env=env)
    r = cli("run", "-t", name, "-c", "import sys; print('bye'); sys.exit(3)", "python", env=env)
    assert "bye" in r.stdout
    assert "Execution finished. (exit code = 3)" in r.stderr
    r = cli("run", "-t", name, "-c", "print(x + 1)", "python", env=env)
    assert "Reusing session" in r.stderr
    assert r.stdout.strip().endswith("42")
    cli("rm", name, env=env)


def test_run_file_with_exec_and_rm(cli: Runner, live_server: LiveServer, tmp_path: Path) -> None:
    (tmp_path / "mycode.py").write_text('print("this is my code")\n')
    r = cli("run", "--rm", "--exec", "python mycode.py", "python", "mycode.py",
            env=api_env(live_server), cwd=tmp_path)  # fmt: skip
    assert "this is my code" in r.stdout, r.stderr
    assert "Uploading done." in r.stderr
    assert "Cleaned up the session." in r.stderr


def test_resources_are_enforced(cli: Runner, live_server: LiveServer, tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text(RESOURCES_PY)
    r = cli("run", "--rm", "-r", "cpu=1", "-r", "mem=512m", "python", "main.py",
            env=api_env(live_server), cwd=tmp_path)  # fmt: skip
    assert "Memory: 512 MiB" in r.stdout, r.stderr
    assert "Number of CPU(s): 1" in r.stdout


def test_c_program_builds_and_runs(cli: Runner, live_server: LiveServer, tmp_path: Path) -> None:
    (tmp_path / "hello.c").write_text(HELLO_C)
    r = cli("run", "--rm", "--build", "gcc -o hello hello.c", "--exec", "./hello", "python",
            "hello.c", env=api_env(live_server), cwd=tmp_path)  # fmt: skip
    assert "Build finished. (exit code = 0)" in r.stderr, r.stderr
    assert "hello from C" in r.stdout


def test_events_show_the_lifecycle(cli: Runner, live_server: LiveServer) -> None:
    env = api_env(live_server)
    name = unique("events")
    result: dict[str, subprocess.CompletedProcess[str]] = {}
    listener = threading.Thread(
        target=lambda: result.setdefault("r", cli("events", name, env=env, timeout=60))
    )
    listener.start()
    time.sleep(3.0)  # the listener subscribes before the session exists (a slow CLI start)
    cli("start", "-t", name, "python", env=env)
    cli("rm", name, env=env)
    listener.join(timeout=60)
    out = re.sub(r"\x1b\[[0-9;]*m", "", result["r"].stdout)
    for event in ("session_enqueued", "session_started", "session_terminated", "server_close"):
        assert event in out, out
    assert out.index("session_started") < out.index("session_terminated")


def test_oom_ends_the_session_with_the_reason(cli: Runner, live_server: LiveServer) -> None:
    env = api_env(live_server)
    name = unique("oom")
    cli("run", "-t", name, "-r", "mem=256m", "-c", "x = bytearray(600 * 2**20)", "python",
        env=env)  # fmt: skip
    deadline = time.monotonic() + 20
    row = ""
    while time.monotonic() < deadline:
        ps = cli("ps", "--detail", env=env)
        row = next((line for line in ps.stdout.splitlines() if line.startswith(name)), "")
        if "ERROR" in row:
            break
        time.sleep(0.5)
    assert "ERROR" in row and "oom-killed" in row
    cli("rm", name, env=env)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["-c", "print(1)", "no-such-image"], "Unknown image"),
        (["-r", "cpu=512", "-c", "print(1)", "python"], "No agent could ever run this session"),
        (["-r", "mem=lots", "-c", "print(1)", "python"], "Invalid amount for resource mem"),
        (["-t", "x" * 70, "-c", "print(1)", "python"], "64"),
    ],
)
def test_bad_input_is_refused_and_leaves_nothing(
    cli: Runner, live_server: LiveServer, args: list[str], complaint: str
) -> None:
    env = api_env(live_server)
    before = set(names_of(cli, live_server, "-s", "ALL"))
    kernels_before = live_server.agent_kernels()
    r = cli("run", *args, env=env)
    assert complaint in r.stdout + r.stderr
    assert "Execution finished" not in r.stderr
    assert set(names_of(cli, live_server, "-s", "ALL")) == before
    assert live_server.agent_kernels() == kernels_before


def test_session_mode_run_through_the_webserver(cli: Runner, live_server: LiveServer) -> None:
    demo = live_server.user("demo")
    env = session_env(live_server)
    login = cli("login", env=env, stdin=f"{demo['email']}\n{demo['password']}\n")
    assert "Login succeeded" in login.stdout + login.stderr
    r = cli("run", "--rm", "-c", "print('via the webserver')", "python", env=env)
    assert "via the webserver" in r.stdout, r.stderr
    assert "Cleaned up the session." in r.stderr


def test_download_id_container(cli: Runner, live_server: LiveServer, tmp_path: Path) -> None:
    """Seed 000's SSH flow starts with downloading the session's private key."""
    env = api_env(live_server)
    name = unique("sshkey")
    cli("start", "-t", name, "python", env=env)
    try:
        key = tmp_path / "id_container"
        for _ in range(20):  # the key is made in the background as the container starts
            r = cli("download", name, "id_container", env=env, cwd=tmp_path)
            if key.exists():
                break
            time.sleep(0.25)
        assert key.exists(), r.stdout + r.stderr
        assert key.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
        listing = cli("ls", name, ".ssh", env=env)
        assert "authorized_keys" in listing.stdout
    finally:
        cli("rm", name, env=env)
