"""Capacity, cpusets, service ports and the container spec built from a request."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

from backendai.agent.layout import CONTAINER_HOME, LABEL_AGENT_PORTS, install_runner
from backendai.agent.resources import (
    CoreAllocator,
    cores_needed,
    detect_capacity,
    format_cpuset,
    parse_cpuset,
)
from backendai.agent.settings import WORK_UID
from backendai.agent.spec import build_spec, parse_service_ports
from backendai.common.agent_protocol import (
    LABEL_AGENT_ID,
    LABEL_KERNEL_ID,
    KernelCreateRequest,
    MountSpec,
)
from tests.agent.conftest import create_body, make_settings


def test_cpuset_format() -> None:
    assert parse_cpuset("0-2,5") == [0, 1, 2, 5]
    assert parse_cpuset("3\n") == [3]
    assert format_cpuset([2, 0, 1]) == "0,1,2"


def test_cores_needed_rounds_up() -> None:
    assert [cores_needed(Decimal(x)) for x in ("0.5", "1", "1.5", "3")] == [1, 1, 2, 3]


def test_kernels_get_separate_cores_while_there_are_enough() -> None:
    allocator = CoreAllocator([0, 1, 2, 3])
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert allocator.allocate(a, 2) == [0, 1]
    assert allocator.allocate(b, 1) == [2]
    assert allocator.allocate(c, 2) == [1, 3] or allocator.assigned[c] == [0, 3]
    assert allocator.allocate(a, 2) == [0, 1]  # idempotent
    allocator.release(a)
    assert allocator.allocate(uuid.uuid4(), 2) == [0, 1]


def test_shared_cores_when_oversubscribed() -> None:
    allocator = CoreAllocator([0, 1])
    first = allocator.allocate(uuid.uuid4(), 1)
    second = allocator.allocate(uuid.uuid4(), 1)
    third = allocator.allocate(uuid.uuid4(), 1)
    assert {first[0], second[0]} == {0, 1} and third == [0]


def test_capacity_overrides_and_reserve() -> None:
    detected = detect_capacity(reserved_cpu=0, reserved_mem=0, cpu=None, mem=None)
    assert detected.cpu >= 1 and detected.mem > 0 and detected.cores
    reserved = detect_capacity(reserved_cpu=0, reserved_mem=2**20, cpu=None, mem=None)
    assert reserved.mem == detected.mem - 2**20
    fixed = detect_capacity(reserved_cpu=0, reserved_mem=0, cpu=3, mem=2**30)
    assert fixed.slots() == {"cpu": "3", "mem": str(2**30)}


def test_service_ports_from_the_image_label() -> None:
    ports = parse_service_ports("ttyd:http:7681,sshd:tcp:2200,bad:ftp:21", preopen=[8080, 7681])
    assert [(p.name, p.protocol, p.container_ports) for p in ports] == [
        ("ttyd", "http", [7681]),
        ("sshd", "tcp", [2200]),
        ("preopen-8080", "preopen", [8080]),
    ]


def test_spec_limits_labels_and_env(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    body = create_body(
        slots={"cpu": "1.5", "mem": str(2**30)},
        resource_opts={"shmem": "128m"},
        environ={"FOO": "bar"},
    )
    req = KernelCreateRequest.model_validate(body)
    mounts = [MountSpec(host_path=str(tmp_path), container_path=str(CONTAINER_HOME))]
    spec = build_spec(settings, req, mounts, [0, 1], parse_service_ports("ttyd:http:7681"))
    assert (spec.cpu, spec.cpuset, spec.memory) == (Decimal("1.5"), [0, 1], 2**30)
    assert spec.shm_size == 128 * 2**20 and spec.pids_limit == 4096
    assert spec.user == f"{WORK_UID}:{WORK_UID}" and spec.workdir == "/home/work"
    assert spec.labels[LABEL_AGENT_ID] == "test-agent"
    assert spec.labels[LABEL_KERNEL_ID] == body["kernel_id"]
    assert spec.env["FOO"] == "bar" and spec.env["HOME"] == "/home/work"
    assert spec.ports == []  # apps are reached through the runner, never a published port
    assert json.loads(spec.labels[LABEL_AGENT_PORTS])[0]["container_ports"] == [7681]
    assert "-m runner" in " ".join(spec.command)


def test_default_shmem_and_no_memory_limit(tmp_path: Path) -> None:
    req = KernelCreateRequest.model_validate(create_body(slots={"cpu": "1"}))
    spec = build_spec(make_settings(tmp_path), req, [], [0], [])
    assert spec.memory is None and spec.shm_size == 64 * 2**20


def test_runner_is_installed_once_per_version(tmp_path: Path) -> None:
    first = install_runner(tmp_path)
    assert (first / "__main__.py").is_file() and (first / "interpreter.py").is_file()
    assert install_runner(tmp_path) == first
    assert oct(first.stat().st_mode & 0o777) == "0o755"
