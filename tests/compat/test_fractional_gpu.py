"""Seed 004's "Automated job scheduling" demo on the real Docker Engine, with the mock cuda
plugin: an agent with 1 fGPU (one mock device), three sessions of 0.4 fGPU each. Two run, the
third waits as PENDING with its reason and queue position; once one of the two is terminated
the PENDING one starts by itself, within 2 seconds. The running ones are told in their
environment what share of which device they got."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backendai.client.config import APIConfig
from backendai.client.session import Session
from tests.compat.conftest import api_env
from tests.fixtures.live import MOCK_GPU_AGENT_ENV, LiveServer, server_with_agent_env

pytestmark = [pytest.mark.slow, pytest.mark.compat, pytest.mark.docker]

SHARE = "0.4"
# The goal is 2 s (1.55-1.59 s measured on a quiet 2-core machine, docs/benchmarks.md); the
# test asserts only that it starts by itself, with room for a loaded CI machine.
RESTART_LIMIT_S = 15.0


@pytest.fixture(scope="module")
def gpu_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with server_with_agent_env(tmp_path_factory, "fgpu-data", MOCK_GPU_AGENT_ENV) as server:
        yield server


@pytest.fixture
def api(gpu_server: LiveServer) -> Iterator[Session]:
    with Session(config=APIConfig.from_env(api_env(gpu_server))) as session:
        yield session


def statuses(api: Session, names: list[str]) -> dict[str, dict[str, Any]]:
    return {n: api.ComputeSession(n).get_info() for n in names}


def wait_until(check: Any, timeout: float, step: float = 0.05) -> float:
    """Seconds until ``check()`` was true; fails after ``timeout``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(step)
    return time.monotonic() - start


def test_three_sessions_of_04_fgpu_on_one_fgpu(api: Session, gpu_server: LiveServer) -> None:
    prefix = f"fgpu-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i}" for i in (1, 2, 3)]
    resources = {"cpu": "1", "mem": "256m", "cuda.shares": SHARE}
    try:
        for name in names:  # three at once, as the web UI's Sessions slider sends them
            api.ComputeSession.get_or_create(
                "python", name=name, resources=resources, enqueue_only=True
            )
        state: dict[str, dict[str, Any]] = {}

        def two_run_one_waits() -> bool:
            nonlocal state
            state = statuses(api, names)
            got = sorted(s["status"] for s in state.values())
            return got == ["PENDING", "RUNNING", "RUNNING"]

        wait_until(two_run_one_waits, timeout=90, step=0.5)
        running = [n for n in names if state[n]["status"] == "RUNNING"]
        (pending,) = [n for n in names if state[n]["status"] == "PENDING"]
        assert pending == names[2]  # first come, first served
        waiting = state[pending]
        reason = str(waiting.get("statusInfo") or "")
        data = waiting.get("statusData") or {}
        scheduler = data.get("scheduler", {}) if isinstance(data, dict) else {}
        full_reason = f"{reason} {scheduler.get('reason', '')}"
        assert "0.4 cuda.shares" in full_reason, waiting
        assert "0.2" in full_reason, waiting  # what is left of the device
        position = waiting.get("queuePosition", scheduler.get("queue_position"))
        assert position == 1, waiting

        # Inside, each running session is told what it got: 0.4 of device 0.
        result = api.ComputeSession(running[0]).execute(
            "import os; print(os.environ['MOCK_CUDA_VISIBLE_DEVICES'], "
            "os.environ['MOCK_CUDA_SHARES'], os.environ['MOCK_CUDA_MEMORY'])"
        )
        out = "".join(text for kind, text in result["console"] if kind == "stdout")
        assert out.split() == ["0", "0:0.4", f"0:{int(16 * 2**30 * 0.4)}"], result

        # Terminate one: the PENDING one starts by itself.
        api.ComputeSession(running[0]).destroy()
        took = wait_until(
            lambda: api.ComputeSession(pending).get_info()["status"] == "RUNNING",
            timeout=30,
        )
        print(f"PENDING -> RUNNING {took:.2f} s after the terminate returned")
        assert took <= RESTART_LIMIT_S, f"took {took:.2f} s"
    finally:
        for name in names:
            with contextlib.suppress(Exception):  # already gone
                api.ComputeSession(name).destroy(forced=True)


def test_agent_reports_its_mock_device(gpu_server: LiveServer) -> None:
    log = Path(gpu_server.log).read_text()
    assert "device plugin cuda offers" in log
    assert os.environ.get("BACKENDAI_AGENT_MOCK_CUDA_DEVICES") is None  # not leaked
