"""The warm pool on the fake backend: claims, refills, safety, re-adoption, cleanup."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.backends.fake import FailingBackend, FakeBackend, SlowBackend
from backendai.agent.backends.protocol import ContainerSpec
from backendai.agent.errors import BackendError
from backendai.agent.kernels import KernelRegistry
from backendai.agent.layout import CLAIM_FILE, LABEL_POOL
from backendai.agent.main import create_app
from backendai.agent.pool import default_pool_images
from backendai.agent.server import CONTEXT_KEY
from backendai.agent.task_log import STATE_FILE
from backendai.common.agent_protocol import LABEL_AGENT_ID, LABEL_KERNEL_ID, ImageInfo
from tests.agent.conftest import (
    HEADERS,
    IMAGE,
    StubManager,
    console,
    create_body,
    make_settings,
    run_ws,
)

MiB = 2**20


async def until(check: Callable[[], bool], within: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "the condition did not become true in time"
        await asyncio.sleep(0.01)


@dataclass
class PoolAgent:
    client: TestClient[Any, Any]
    backend: FakeBackend
    data_dir: Path

    @property
    def registry(self) -> KernelRegistry:
        return self.client.server.app[CONTEXT_KEY].registry

    def idle(self) -> list[str]:
        return [m.container_id for m in self.registry.pool.idle.get(IMAGE, [])]

    async def until_idle(self, count: int) -> list[str]:
        await until(lambda: len(self.idle()) >= count)
        return self.idle()

    async def create(self, **overrides: Any) -> dict[str, Any]:
        resp = await self.client.post("/v1/kernels", json=create_body(**overrides), headers=HEADERS)
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())

    async def run(self, kernel_id: str, code: str) -> str:
        url = f"/v1/kernels/{kernel_id}/execute"
        frames = await run_ws(self.client, url, code, headers=HEADERS)
        assert frames[-1]["exitCode"] == 0, frames
        return console(frames)

    def spec(self, container_id: str) -> ContainerSpec:
        return self.backend.containers[container_id].spec


async def start(data_dir: Path, backend: FakeBackend, **settings: Any) -> PoolAgent:
    app = create_app(make_settings(data_dir, **({"pool_size": 1} | settings)), backend)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return PoolAgent(client, backend, data_dir)


@pytest.fixture
async def pooled(short_dir: Path) -> AsyncIterator[PoolAgent]:
    backend = FakeBackend()
    agent = await start(short_dir, backend)
    yield agent
    await agent.client.close()
    await backend.close()


async def test_a_kernel_claims_the_prepared_container(pooled: PoolAgent) -> None:
    [member] = await pooled.until_idle(1)
    slots = {"cpu": "1.5", "mem": str(768 * MiB)}
    created = await pooled.create(slots=slots, environ={"GREETING": "hi there"})
    kernel_id = created["kernel_id"]
    assert created["container_id"] == member
    ports = {p["name"]: p for p in created["service_ports"]}
    assert ports["ttyd"]["container_ports"] == [7681] and ports["ttyd"]["host_ports"] == []
    cores = min(2, len(os.sched_getaffinity(0)))
    spec = pooled.spec(member)  # the kernel's limits, applied in place
    assert (spec.cpu, spec.memory, len(spec.cpuset)) == (Decimal("1.5"), 768 * MiB, cores)
    assert LABEL_KERNEL_ID not in spec.labels and spec.labels[LABEL_POOL] == IMAGE
    assert spec.ports == []  # a pool container publishes nothing either
    code = "import os; print(os.environ['GREETING'], os.environ['BACKENDAI_KERNEL_ID'])"
    assert await pooled.run(kernel_id, code) == f"hi there {kernel_id}\n"
    # Batch commands see the environment too.
    frames = await run_ws(pooled.client, f"/v1/kernels/{kernel_id}/execute", "", "batch",
                          {"exec": "echo $GREETING $OMP_NUM_THREADS"}, headers=HEADERS)  # fmt: skip
    assert console(frames) == f"hi there {cores}\n"
    claim = json.loads((pooled.data_dir / "kernels" / kernel_id / CLAIM_FILE).read_text())
    assert claim["container_id"] == member and claim["kernel_id"] == kernel_id
    resp = await pooled.client.get("/v1/kernels", headers=HEADERS)
    [info] = await resp.json()  # the kernel, never the pool's containers
    assert info["kernel_id"] == kernel_id and info["container_id"] == member
    [refill] = await pooled.until_idle(1)
    assert refill != member


async def test_a_new_interpreter_keeps_the_environment(pooled: PoolAgent) -> None:
    await pooled.until_idle(1)
    kernel_id = (await pooled.create(environ={"KEPT": "1"}))["kernel_id"]
    url = f"/v1/kernels/{kernel_id}/execute"
    frames = await run_ws(pooled.client, url, "import os; os._exit(3)", headers=HEADERS)
    assert frames[-1]["exitCode"] == 3
    assert await pooled.run(kernel_id, "import os; print(os.environ['KEPT'])") == "1\n"


@pytest.mark.parametrize(
    "overrides",
    [
        {"mounts": [{"host_path": "/tmp", "container_path": "/home/work/data"}]},
        {"bootstrap_script": "true"},
        {"preopen_ports": [8080]},
        {"resource_opts": {"shmem": str(256 * MiB)}},
        {"uid": 2000},
        {"slots": {"cpu": "1"}},  # no memory limit to apply
        {"session_type": "batch", "startup_command": "python3 main.py"},
    ],
)
async def test_only_compatible_requests_claim(pooled: PoolAgent, overrides: Any) -> None:
    [member] = await pooled.until_idle(1)
    created = await pooled.create(**overrides)
    assert created["container_id"] != member
    assert pooled.spec(created["container_id"]).labels[LABEL_KERNEL_ID] == created["kernel_id"]
    assert pooled.idle() == [member]


async def test_other_images_are_not_pooled(short_dir: Path) -> None:
    images = {IMAGE: {"ai.backend.kernelspec": "1"}, "other/r:4": {"ai.backend.kernelspec": "1"}}
    backend = FakeBackend(images)
    agent = await start(short_dir, backend)
    try:
        [member] = await agent.until_idle(1)
        created = await agent.create(image="other/r:4")
        assert created["container_id"] != member and agent.idle() == [member]
    finally:
        await agent.client.close()
        await backend.close()


async def test_concurrent_creates_never_share_a_container(pooled: PoolAgent) -> None:
    [member] = await pooled.until_idle(1)
    results = await asyncio.gather(*(pooled.create() for _ in range(5)))
    containers = [r["container_id"] for r in results]
    assert len(set(containers)) == 5 and containers.count(member) == 1
    claims = list((pooled.data_dir / "kernels").glob(f"*/{CLAIM_FILE}"))
    assert len(claims) == 1


async def test_the_same_kernel_twice_gets_the_same_container(pooled: PoolAgent) -> None:
    [member] = await pooled.until_idle(1)
    kernel_id = uuid.uuid4()
    first, again = await asyncio.gather(
        pooled.create(kernel_id=kernel_id), pooled.create(kernel_id=kernel_id)
    )
    assert first["container_id"] == again["container_id"] == member


async def test_a_create_waits_for_the_container_being_prepared(short_dir: Path) -> None:
    backend = SlowBackend(delay=0.3)
    agent = await start(short_dir, backend)
    try:
        await asyncio.sleep(0.05)  # the first member is being prepared
        assert agent.idle() == []
        created = await agent.create()
        pool_made = [c.id for c in backend.containers.values() if LABEL_POOL in c.spec.labels]
        assert created["container_id"] in pool_made
        assert len(backend.containers) <= 2  # that one, and perhaps its replacement
    finally:
        await agent.client.close()
        await backend.close()


async def test_a_failed_claim_falls_back_to_a_new_container(short_dir: Path) -> None:
    backend = FailingBackend(fail_on={"update_limits"})
    agent = await start(short_dir, backend)
    try:
        [member] = await agent.until_idle(1)
        created = await agent.create()
        assert created["container_id"] != member and member not in backend.containers
        assert not (short_dir / "kernels" / created["kernel_id"] / CLAIM_FILE).exists()
        assert await agent.run(created["kernel_id"], "print(2 + 2)") == "4\n"
        assert (await agent.until_idle(1)) != [member]
    finally:
        await agent.client.close()
        await backend.close()


class NoPoolBackend(SlowBackend):
    """Pool containers cannot be made (slowly): kernels start their own."""

    async def create(self, spec: ContainerSpec) -> str:
        if LABEL_POOL in spec.labels:
            await asyncio.sleep(self.delay)
            raise BackendError("no pool for you")
        return await FakeBackend.create(self, spec)

    async def start(self, container_id: str) -> None:
        await FakeBackend.start(self, container_id)


async def test_a_pool_that_cannot_be_filled_does_not_stop_kernels(
    short_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = NoPoolBackend(delay=0.2)
    agent = await start(short_dir, backend)
    try:
        created = await agent.create()  # waits for the failing preparation, then starts one
        assert await agent.run(created["kernel_id"], "print(6 * 7)") == "42\n"
        assert "cannot prepare a container" in caplog.text
        assert [c.spec.labels[LABEL_KERNEL_ID] for c in backend.containers.values()] == [
            created["kernel_id"]
        ]
    finally:
        await agent.client.close()
        await backend.close()


async def test_readoption_restart_and_destroy_of_a_claimed_kernel(short_dir: Path) -> None:
    backend = FakeBackend()
    agent = await start(short_dir, backend)
    [member] = await agent.until_idle(1)
    kernel_id = (await agent.create(environ={"KEPT": "yes"}))["kernel_id"]
    await agent.run(kernel_id, "state = 'survives'")
    [idle] = await agent.until_idle(1)
    await agent.client.close()  # the agent stops: its idle member goes, the kernel stays
    assert idle not in backend.containers and member in backend.containers
    # A new agent process: same engine, same data dir, and the claim record.
    agent = await start(short_dir, backend)
    try:
        assert await agent.run(kernel_id, "print(state)") == "survives\n"
        resp = await agent.client.get("/v1/kernels", headers=HEADERS)
        assert [k["kernel_id"] for k in await resp.json()] == [kernel_id]
        assert (await agent.create(kernel_id=kernel_id))["container_id"] == member
        resp = await agent.client.post(f"/v1/kernels/{kernel_id}/restart", headers=HEADERS)
        assert resp.status == 200  # a new runner: the environment is given again
        assert await agent.run(kernel_id, "import os; print(os.environ['KEPT'])") == "yes\n"
        pool_dir = agent.registry.kernels[uuid.UUID(kernel_id)].paths.root
        resp = await agent.client.delete(f"/v1/kernels/{kernel_id}", headers=HEADERS)
        assert resp.status == 200
        assert member not in backend.containers and not pool_dir.exists()
        assert not (short_dir / "kernels" / kernel_id).exists()
    finally:
        await agent.client.close()
        await backend.close()
    assert backend.containers == {}


async def test_leftovers_of_a_previous_run_are_removed(short_dir: Path) -> None:
    backend = FakeBackend()
    labels = {LABEL_AGENT_ID: "test-agent", LABEL_POOL: IMAGE}
    stale = await backend.create(
        ContainerSpec(name="bai-pool-x", image=IMAGE, command=["true"], env={}, labels=labels,
                      user="1000:1000", workdir="/", mounts=[], cpu=Decimal(1), cpuset=[0],
                      memory=None, shm_size=1, pids_limit=1)
    )  # fmt: skip
    (short_dir / "pool" / "half-made" / "home").mkdir(parents=True)
    agent = await start(short_dir, backend, pool_size=0)
    try:
        assert stale not in backend.containers
        assert not (short_dir / "pool" / "half-made").exists()
    finally:
        await agent.client.close()
        await backend.close()


async def test_members_are_never_reported_and_a_dead_one_is_replaced(
    short_dir: Path, manager: StubManager
) -> None:
    backend = FakeBackend()
    agent = await start(short_dir, backend, manager_url=manager.url, heartbeat_interval=0.05)
    try:
        [member] = await agent.until_idle(1)
        await manager.wait_for("heartbeats", len(manager.heartbeats) + 2)
        assert manager.heartbeats[-1]["containers"] == []
        backend.crash(member)  # the monitor sees it die: not news for the manager
        await until(lambda: member not in backend.containers)
        [other] = await agent.until_idle(1)
        assert other != member
        # A claimed container is the kernel's: its death is reported as the kernel's.
        kernel_id = (await agent.create())["kernel_id"]
        await manager.wait_for("heartbeats", len(manager.heartbeats) + 2)
        assert [c["kernel_id"] for c in manager.heartbeats[-1]["containers"]] == [kernel_id]
        backend.crash(other, exit_code=3)
        await manager.wait_for("events")
        assert [(e["kernel_id"], e["exit_code"]) for e in manager.events] == [(kernel_id, 3)]
    finally:
        await agent.client.close()
        await backend.close()


def test_the_default_pool_image_is_the_newest_python() -> None:
    def image(name: str, kernel: bool = True) -> ImageInfo:
        labels = {"ai.backend.kernelspec": "1"} if kernel else {}
        return ImageInfo(name=name, digest="", size_bytes=1, labels=labels)

    images = [image("backendai/python:3.9-debian12"), image("backendai/python:3.11-debian12"),
              image("backendai/python:latest"), image("backendai/base:debian12", kernel=False),
              image("cr.example.com/ns/pythonic:9")]  # fmt: skip
    assert default_pool_images(images) == ["backendai/python:3.11-debian12"]
    assert default_pool_images([image("python:latest")]) == ["python:latest"]
    assert default_pool_images([image("backendai/r:4")]) == []
    jupyter = [image("backendai/python-jupyter:3.11-debian12"), image("backendai/python:3.11")]
    assert default_pool_images(jupyter) == ["backendai/python:3.11", jupyter[0].name]


async def test_a_deep_tree_left_in_a_pool_home_never_stops_a_start(short_dir: Path) -> None:
    """A user's 1,100-deep tree made shutil.rmtree raise RecursionError, and the agent (so
    `backendai-server up`) exited at start."""
    home = short_dir / "pool" / str(uuid.uuid4()) / "home"
    home.mkdir(parents=True)
    fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1100):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    backend = FakeBackend()
    agent = await start(short_dir, backend)
    try:
        await agent.until_idle(1)
        assert not home.parent.exists()
    finally:
        await agent.client.close()
        await backend.close()


async def test_a_batch_task_claims_a_pool_container(pooled: PoolAgent) -> None:
    """A batch session's task runs through the runner, so its kernel may be a warm one."""
    [member] = await pooled.until_idle(1)
    task = {"mode": "batch", "exec": "true"}
    created = await pooled.create(session_type="batch", startup_command="true", task=task)
    assert created["container_id"] == member
    [record] = list(pooled.data_dir.rglob(STATE_FILE))
    assert json.loads(record.read_text())["task"]["exec"] == "true"
