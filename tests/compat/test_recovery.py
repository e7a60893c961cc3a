"""A platform killed with SIGKILL and started again: its sessions are still RUNNING and usable
(the agent re-adopts its containers, the interpreter keeps its state)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backendai.server.main import local_agent_id
from tests.compat.conftest import Runner, api_env
from tests.fixtures.live import (
    free_port,
    load_server,
    remove_containers,
    start_server,
    stop_server,
)

pytestmark = [pytest.mark.slow, pytest.mark.compat, pytest.mark.docker]


def test_sessions_survive_a_killed_agent(cli: Runner, tmp_path: Path) -> None:
    data_dir = tmp_path / "platform"
    data_dir.mkdir()
    ports = (free_port(), free_port(), free_port())
    proc = start_server(data_dir, ports)
    try:
        server = load_server(data_dir, ports)
        env = api_env(server)
        r = cli("run", "-t", "survivor", "-c", "kept = 'state'", "python", env=env)
        assert "exit code = 0" in r.stderr, r.stderr
        proc.kill()  # SIGKILL: no clean-up of any kind
        proc.wait()
        proc = start_server(data_dir, ports)
        ps = cli("ps", "-f", "name,status", env=env)
        assert any(line.split() == ["survivor", "RUNNING"] for line in ps.stdout.splitlines()), (
            ps.stdout
        )
        r = cli("run", "-t", "survivor", "-c", "print(kept)", "python", env=env)
        assert r.stdout.strip().endswith("state"), r.stderr
    finally:
        stop_server(proc)
        remove_containers(local_agent_id(data_dir))
