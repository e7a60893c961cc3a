"""A server-side sweep on the live platform outlives the client that submitted it (issue 11,
item 4): ``run --type batch`` of 12 cases is killed right after it submitted them, and every
case still ends SUCCESS with its own output kept for ``task-logs``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.compat.conftest import OURS, Runner, api_env
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.compat]

CASES = 12
DEADLINE_S = 300
CODE = 'import os,time; time.sleep(1); print("case", os.environ["CASENO"])'
SUBMITTED = re.compile(r"Running (\d+) cases as a server-side sweep ([0-9a-f-]{36})")


def _env(server: LiveServer, home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8",
        "XDG_STATE_HOME": str(home / "state"), "XDG_CACHE_HOME": str(home / "cache"),
    } | api_env(server)  # fmt: skip


def _ours(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OURS), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def _submit_and_kill(env: dict[str, str], name: str) -> str:
    """Start the run, SIGKILL it as soon as it named its sweep; the sweep's ID."""
    proc = subprocess.Popen(
        [str(OURS), "run", "--type", "batch", "-t", name, "-c", CODE, "-r", "cpu=1",
         "-e", "CASENO=$X", "--env-range=X=case:" + ",".join(map(str, range(1, CASES + 1))),
         "python"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            match = SUBMITTED.search(line)
            if match:
                assert int(match.group(1)) == CASES
                return match.group(2)
        raise AssertionError(f"the run ended without naming a sweep: {''.join(seen)}")
    finally:
        proc.kill()  # SIGKILL: no chance to clean anything up
        proc.wait()
        watchdog.cancel()


@pytest.mark.docker
def test_sweep_survives_a_killed_client(live_server: LiveServer, tmp_path: Path) -> None:
    env = _env(live_server, tmp_path)
    name = f"sweep-{uuid.uuid4().hex[:8]}"
    sweep_id = _submit_and_kill(env, name)
    try:
        info: dict[str, Any] = {}
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            r = _ours(env, "sweep", "info", "--output", "json", sweep_id)
            assert r.returncode == 0, r.stderr
            info = json.loads(r.stdout)
            if info["finished"]:
                break
            time.sleep(3)
        assert info.get("finished"), f"the sweep did not finish in {DEADLINE_S} s: {info}"
        cases = info["caseList"]
        assert info["counts"]["success"] == CASES, info
        assert [c["result"] for c in cases] == ["SUCCESS"] * CASES
        assert sorted(int(c["environ"]["CASENO"]) for c in cases) == list(range(1, CASES + 1))
        for case in cases:
            assert case["session_name"] == f"{name}-{case['index']}"
            assert case["exit_code"] == 0
            logs = _ours(env, "task-logs", case["session_id"])
            assert logs.returncode == 0, logs.stderr
            assert logs.stdout == f"case {case['environ']['CASENO']}\n"
        listed = _ours(env, "sweep", "list")
        assert sweep_id in listed.stdout
    finally:
        _ours(env, "sweep", "cancel", sweep_id)  # a no-op once finished; frees a failed run


@pytest.mark.docker
def test_run_batch_one_case_streams_and_exits_with_its_code(
    live_server: LiveServer, tmp_path: Path
) -> None:
    env = _env(live_server, tmp_path)
    name = f"one-{uuid.uuid4().hex[:8]}"
    code = 'import sys; print("out"); print("err", file=sys.stderr); sys.exit(3)'
    r = subprocess.run(
        [str(OURS), "run", "--type", "batch", "-t", name, "-c", code, "-r", "cpu=1", "python"],
        capture_output=True, text=True, env=env, timeout=DEADLINE_S, check=False,
    )  # fmt: skip
    assert r.returncode == 3, r.stderr
    assert sorted(r.stdout.splitlines()) == ["err", "out"]  # the task log: both streams
    assert f"\u2718 [0] {name}-0 FAILURE (exit code 3)" in r.stderr


SEED_CODE = 'import os; print("Hello world, {}".format(os.environ["CASENO"]))'


@pytest.mark.docker
def test_seed_client_side_env_range_prints_the_four_cases(
    cli: Runner, live_server: LiveServer, tmp_path: Path
) -> None:
    """Seed 001's concurrent-experiment example, as written (client-side, interactive
    sessions), with both CLIs: the 4 combinations, and each case's own output in its log."""
    name = f"seed-{uuid.uuid4().hex[:6]}"
    done = cli(
        "run", "-t", name, "--rm", "-c", SEED_CODE, "-r", "cpu=1", "-r", "mem=256m",
        "-e", "CASENO=$X", "--env-range=X=case:1,2,3,4", "python",
        env=api_env(live_server), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"env = 'CASENO={i}', build = '*', exec = '*'" for i in (1, 2, 3, 4)
    ]
    logs = tmp_path / "home" / ".cache" / "backend.ai" / "client-logs"
    for idx in range(4):
        text = (logs / f"{name}-{idx}.stdout.log").read_text()
        assert f"Hello world, {idx + 1}" in text
