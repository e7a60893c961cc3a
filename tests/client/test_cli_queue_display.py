"""The job queue in our CLI: ``start --count N``, the capacity columns of ``admin
scaling-group(s)``, and a waiting session's Status Info in ``ps --detail``."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tests.client.conftest import run_cli
from tests.client.fake_server import FakeBackend

WAITING = (
    "needs 3 cpu; the most free on any agent of group default is 1 "
    "(queue position 2 in resource group default)"
)
GROUP = {
    "name": "gpu",
    "description": "GPU nodes",
    "is_active": True,
    "created_at": "2021-09-01T12:00:00+00:00",
    "driver": "static",
    "driver_opts": "{}",
    "scheduler": "fifo",
    "scheduler_opts": "{}",
    "agent_count_by_status": 2,
    "agent_total_resource_slots_by_status": json.dumps(
        {
            "available_slots": {"cpu": "8", "mem": str(16 * 2**30), "cuda.shares": "2"},
            "occupied_slots": {"cpu": "3", "cuda.shares": "0.8"},
        }
    ),
}


def test_start_count_creates_and_lists_each(api_mode: str, backend: FakeBackend) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    backend.sessions.create_answer = {
        "sessions": [
            {"sessionId": sid, "sessionName": f"trio-{i}", "status": "PENDING",
             "created": True, "servicePorts": []}
            for i, sid in enumerate(ids, 1)
        ]
    }  # fmt: skip
    result = run_cli("start", "-t", "trio", "--count", "3", "-r", "cpu=2", "python")
    assert result.exit_code == 0, result.output
    for i, sid in enumerate(ids, 1):
        assert f"Session trio-{i} (ID {sid}) is PENDING." in result.output
    [create] = [r.json() for r in backend.requests if r.path == "/session"]
    assert create["count"] == 3 and create["name"] == "trio"
    assert create["config"]["resources"] == {"cpu": "2"}


def test_start_without_count_sends_none(api_mode: str, backend: FakeBackend) -> None:
    result = run_cli("start", "-t", "solo1", "python")
    assert result.exit_code == 0, result.output
    [create] = [r.json() for r in backend.requests if r.path == "/session"]
    assert "count" not in create  # the body stays what client 20.09 sends


def test_start_count_out_of_range(api_mode: str, backend: FakeBackend) -> None:
    result = run_cli("start", "--count", "0", "python")
    assert result.exit_code == 2 and "--count" in result.output


def test_scaling_group_shows_capacity(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["scaling_group"] = GROUP
    result = run_cli("admin", "scaling-group", "-n", "gpu")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.split() == ["Alive", "Agents", "2"] for line in lines)
    assert any("Capacity" in line and "cpu 8" in line and "cuda.shares 2" in line for line in lines)
    assert any("Occupied" in line and "cpu 3, cuda.shares 0.8" in line for line in lines)
    [query] = backend.gql_requests()
    assert "agent_total_resource_slots_by_status" in query["query"]


def test_scaling_groups_table_has_capacity_columns(api_mode: str, backend: FakeBackend) -> None:
    bare = {k: v for k, v in GROUP.items() if not k.startswith("agent_")} | {"name": "cpu"}
    backend.gql["scaling_groups"] = [GROUP, bare]
    result = run_cli("admin", "scaling-groups")
    assert result.exit_code == 0, result.output
    header, _, gpu, cpu = result.stdout.splitlines()
    assert header.split()[-4:] == ["Alive", "Agents", "Capacity", "Occupied"]
    assert "cpu 8, mem 16.0 GiB, cuda.shares 2" in gpu and gpu.rstrip().endswith("0.8")
    assert cpu.rstrip().endswith("-")  # a manager without the fields: dashes, no crash


def test_ps_detail_shows_the_reason(api_mode: str, backend: FakeBackend) -> None:
    item: dict[str, Any] = {
        "name": "big-2", "session_id": str(uuid.uuid4()), "group_name": "default",
        "id": str(uuid.uuid4()), "image": "python", "type": "INTERACTIVE",
        "status": "PENDING", "status_info": WAITING, "status_changed": None,
        "result": "UNDEFINED", "tag": None, "created_at": "2021-09-01T12:00:00+00:00",
        "occupied_slots": "{}",
    }  # fmt: skip
    backend.gql["keypair"] = {"access_key": "AK", "secret_key": "SK", "is_active": True,
                              "is_admin": False}  # fmt: skip
    backend.gql["compute_session_list"] = {"items": [item], "total_count": 1}
    result = run_cli("ps", "--detail")
    assert result.exit_code == 0, result.output
    assert WAITING in result.stdout.replace("\n", " ") or "queue position 2" in result.stdout
