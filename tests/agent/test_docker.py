"""The agent on the real Docker Engine with the local python image.

Every container made here carries this test run's own agent id, and the fixture removes all of
them by that label, whatever happens in the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiodocker
import aiohttp
import pytest
from aiodocker.networks import DockerNetwork
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.backends.docker import LOG_MAX_CHARS, DockerBackend
from backendai.agent.backends.protocol import ContainerSpec
from backendai.agent.main import create_app
from backendai.agent.settings import WORK_UID, AgentSettings
from backendai.common.agent_protocol import (
    LABEL_AGENT_ID,
    LABEL_KERNEL_ID,
    LABEL_SESSION_ID,
    MountSpec,
)
from tests.agent.conftest import (
    HEADERS,
    IMAGE,
    StubManager,
    console,
    create_body,
    make_settings,
    run_ws,
)

pytestmark = [pytest.mark.slow, pytest.mark.docker]
MiB = 2**20


@dataclass
class DockerAgent:
    client: TestClient[Any, Any]
    settings: AgentSettings

    async def create(self, **overrides: Any) -> dict[str, Any]:
        resp = await self.client.post("/v1/kernels", json=create_body(**overrides), headers=HEADERS)
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())

    async def run(self, kernel_id: str, code: str = "", **kwargs: Any) -> list[dict[str, Any]]:
        url = f"/v1/kernels/{kernel_id}/execute"
        return await run_ws(self.client, url, code, headers=HEADERS, **kwargs)

    async def stdout(self, kernel_id: str, code: str) -> str:
        frames = await self.run(kernel_id, code)
        assert frames[-1]["exitCode"] == 0, frames
        return console(frames)


async def remove_containers(agent_id: str) -> None:
    """The agent's containers, then its networks (sessions outlive their agent by design)."""
    async with aiodocker.Docker() as docker:
        containers = await docker.containers.list(
            all=True, filters={"label": [f"{LABEL_AGENT_ID}={agent_id}"]}
        )
        for container in containers:
            await container.delete(force=True)
        for network in await docker.networks.list(
            filters={"label": [f"{LABEL_AGENT_ID}={agent_id}"]}
        ):
            with contextlib.suppress(aiodocker.DockerError):  # gone meanwhile
                await DockerNetwork(docker, network["Id"]).delete()


@pytest.fixture
async def settings(short_dir: Path) -> AsyncIterator[AgentSettings]:
    try:
        async with aiodocker.Docker() as docker:
            await docker.images.inspect(IMAGE)
    except Exception as e:
        pytest.fail(f"Docker with the image {IMAGE} is needed (scripts/setup.sh): {e}")
    agent_id = f"test-{uuid.uuid4().hex[:12]}"
    try:
        yield make_settings(short_dir, id=agent_id, backend="docker", cpu=None, mem=None)
    finally:
        await remove_containers(agent_id)


@pytest.fixture
async def docker_agent(settings: AgentSettings) -> AsyncIterator[DockerAgent]:
    async with TestClient(TestServer(create_app(settings))) as client:
        yield DockerAgent(client, settings)


async def test_limits_user_and_hello(docker_agent: DockerAgent) -> None:
    kernel_id = (await docker_agent.create(slots={"cpu": "1", "mem": str(512 * MiB)}))["kernel_id"]
    assert await docker_agent.stdout(kernel_id, "print('hello')") == "hello\n"
    code = (
        "import os\n"
        "r = lambda p: open(p).read().strip()\n"
        "print(r('/sys/fs/cgroup/memory/memory.limit_in_bytes'))\n"
        "print(r('/sys/fs/cgroup/cpuset/cpuset.cpus'))\n"
        "print(r('/sys/fs/cgroup/pids/pids.max'))\n"
        "print(os.getuid(), os.getgid(), os.getcwd(), os.environ['HOME'])\n"
        "st = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "print(st['NoNewPrivs'].strip(), st['CapEff'].strip())\n"
        "v = os.statvfs('/dev/shm'); print(v.f_blocks * v.f_frsize)\n"
    )
    lines = (await docker_agent.stdout(kernel_id, code)).splitlines()
    assert lines[0] == "536870912"
    assert "," not in lines[1] and "-" not in lines[1]  # exactly one CPU
    assert lines[2] == "4096"
    assert lines[3] == f"{WORK_UID} {WORK_UID} /home/work /home/work"
    assert lines[4] == "1 0000000000000000"
    assert lines[5] == str(64 * MiB)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
async def test_kernels_get_their_own_cores(docker_agent: DockerAgent) -> None:
    first = (await docker_agent.create())["kernel_id"]
    second = (await docker_agent.create())["kernel_id"]
    code = "print(open('/sys/fs/cgroup/cpuset/cpuset.cpus').read().strip())"
    assert await docker_agent.stdout(first, code) != await docker_agent.stdout(second, code)


async def test_query_state_input_and_interrupt(docker_agent: DockerAgent) -> None:
    kernel_id = (await docker_agent.create())["kernel_id"]
    await docker_agent.run(kernel_id, "x = 1")
    assert await docker_agent.stdout(kernel_id, "print(x)") == "1\n"
    frames = await docker_agent.run(kernel_id, "print(input('name? '))", inputs=["kim"])
    assert frames[0]["status"] == "waiting-input" and console(frames[1:]) == "kim\n"
    url = f"/v1/kernels/{kernel_id}/execute"
    async with docker_agent.client.ws_connect(url, headers=HEADERS) as ws:
        await ws.send_json({"code": "import time; time.sleep(60)", "mode": "query"})
        await asyncio.sleep(0.5)
        await ws.send_json({"interrupt": True})
        frame = await asyncio.wait_for(ws.receive_json(), 10)
    assert frame["exitCode"] == 1 and "KeyboardInterrupt" in console([frame], "stderr")


async def test_c_program_batch(docker_agent: DockerAgent) -> None:
    kernel_id = (await docker_agent.create())["kernel_id"]
    form = aiohttp.FormData()
    source = b'#include <stdio.h>\nint main(void) { printf("hello, C\\n"); return 0; }\n'
    form.add_field("src", source, filename="hello.c")
    resp = await docker_agent.client.post(
        f"/v1/kernels/{kernel_id}/upload", data=form, headers=HEADERS
    )
    assert resp.status == 204
    options = {"clean": "*", "build": "gcc -o hello hello.c", "exec": "./hello"}
    frames = await docker_agent.run(kernel_id, mode="batch", options=options)
    assert [(f["status"], f["exitCode"]) for f in frames if f["status"] != "continued"] == [
        ("clean-finished", 0),
        ("build-finished", 0),
        ("finished", 0),
    ]
    assert console(frames) == "hello, C\n"


async def test_files_and_logs(docker_agent: DockerAgent) -> None:
    kernel_id = (await docker_agent.create())["kernel_id"]
    base = f"/v1/kernels/{kernel_id}"
    form = aiohttp.FormData()
    form.add_field("src", b"print('this is my code')\n", filename="main.py")
    form.add_field("src", b"data", filename="sub/data.txt")
    assert (
        await docker_agent.client.post(f"{base}/upload", data=form, headers=HEADERS)
    ).status == 204
    frames = await docker_agent.run(
        kernel_id, mode="batch", options={"clean": "*", "build": "*", "exec": "*"}
    )
    assert console(frames[-1:]) == "this is my code\n"
    await docker_agent.run(kernel_id, "open('made-inside.txt', 'w').write('x' * 10)")
    resp = await docker_agent.client.post(f"{base}/files", json={"path": "."}, headers=HEADERS)
    listing = {f["filename"]: f for f in (await resp.json())["files"]}
    assert listing["made-inside.txt"]["size"] == 10 and listing["sub"]["mode"].startswith("d")
    assert ".bashrc" in listing  # the image's dotfiles were copied into the fresh home
    resp = await docker_agent.client.post(
        f"{base}/download", json={"files": ["made-inside.txt"]}, headers=HEADERS
    )
    assert resp.status == 200 and resp.content_type == "multipart/mixed"
    resp = await docker_agent.client.get(f"{base}/logs", headers=HEADERS)
    assert "this is my code" in await resp.text()


async def test_query_oom_ends_the_kernel_as_oom_killed(
    settings: AgentSettings, manager: StubManager
) -> None:
    """Code that outgrows the memory limit ends its kernel; the manager hears oom-killed."""
    watched = settings.model_copy(update={"manager_url": manager.url})
    async with TestClient(TestServer(create_app(watched))) as client:
        agent = DockerAgent(client, watched)
        kernel_id = (await agent.create(slots={"cpu": "1", "mem": str(64 * MiB)}))["kernel_id"]
        try:
            frames = await agent.run(kernel_id, "x = bytearray(200 * 2**20)")
            assert frames[-1]["exitCode"] == 137
            assert "memory limit: 64 MiB" in console(frames, "stderr") + console(frames, "stdout")
            await manager.wait_for("events", 1)
            assert manager.events[0]["reason"] == "oom-killed"
            assert manager.events[0]["kernel_id"] == kernel_id
            assert "64 MiB" in manager.events[0]["message"]
        finally:
            await client.delete(f"/v1/kernels/{kernel_id}", headers=HEADERS)


async def test_container_oom_is_reported(settings: AgentSettings, manager: StubManager) -> None:
    """A container whose main process exceeds its memory dies; the agent says oom-killed."""
    backend = DockerBackend()
    kernel_id = uuid.uuid4()
    container_id = await backend.create(
        ContainerSpec(
            name=f"bai-oom-{kernel_id}",
            image=IMAGE,
            command=["python3", "-c", "x = bytearray(200 * 2**20)"],
            env={},
            labels={
                LABEL_AGENT_ID: settings.id,
                LABEL_KERNEL_ID: str(kernel_id),
                LABEL_SESSION_ID: str(uuid.uuid4()),
                "ai.backend.agent.slots": '{"mem": "67108864"}',
            },
            user="1000:1000",
            workdir="/tmp",
            mounts=[],
            cpu=Decimal(1),
            cpuset=[0],
            memory=64 * MiB,
            shm_size=64 * MiB,
            pids_limit=64,
        )
    )
    watched = settings.model_copy(update={"manager_url": manager.url})
    try:
        async with TestClient(TestServer(create_app(watched, backend))):
            await backend.start(container_id)  # adopted at start; now it runs and dies
            await manager.wait_for("events", 1)
        assert manager.events[0]["reason"] == "oom-killed"
        assert manager.events[0]["kernel_id"] == str(kernel_id)
        assert "64 MiB" in manager.events[0]["message"]
    finally:
        await backend.destroy(container_id)
        await backend.close()


async def test_readoption_and_destroy(settings: AgentSettings) -> None:
    async with TestClient(TestServer(create_app(settings))) as client:
        agent = DockerAgent(client, settings)
        created = await agent.create()
        await agent.run(created["kernel_id"], "state = 'kept'")
    # The agent process is gone; its kernel is not. A new one takes it back.
    async with TestClient(TestServer(create_app(settings))) as client:
        agent = DockerAgent(client, settings)
        assert await agent.stdout(created["kernel_id"], "print(state)") == "kept\n"
        again = await agent.create(kernel_id=created["kernel_id"])
        assert again["container_id"] == created["container_id"]
        resp = await client.delete(f"/v1/kernels/{created['kernel_id']}", headers=HEADERS)
        assert resp.status == 200 and (await resp.json())["last_stat"]["cpu_used"]["current"]
    async with aiodocker.Docker() as docker:
        left = await docker.containers.list(
            all=True, filters={"label": [f"{LABEL_AGENT_ID}={settings.id}"]}
        )
    assert left == []
    assert not (settings.data_dir / "kernels" / created["kernel_id"]).exists()


async def test_restart(docker_agent: DockerAgent) -> None:
    kernel_id = (await docker_agent.create())["kernel_id"]
    await docker_agent.run(kernel_id, "x = 1; open('f', 'w').write('kept')")
    resp = await docker_agent.client.post(f"/v1/kernels/{kernel_id}/restart", headers=HEADERS)
    assert resp.status == 200
    frames = await docker_agent.run(kernel_id, "print(open('f').read()); x")
    assert console(frames) == "kept\n" and "NameError" in console(frames, "stderr")


async def test_bootstrap_script_and_vfolder_mount(
    docker_agent: DockerAgent, tmp_path: Path
) -> None:
    vfolder = tmp_path / "vf"
    vfolder.mkdir()
    vfolder.chmod(0o777)
    (vfolder / "input.txt").write_text("from the vfolder")
    mount = MountSpec(host_path=str(vfolder), container_path="/home/work/data").model_dump()
    kernel_id = (
        await docker_agent.create(mounts=[mount], bootstrap_script="echo boot > ~/booted")
    )["kernel_id"]
    out = await docker_agent.stdout(
        kernel_id, "print(open('data/input.txt').read()); print(open('booted').read().strip())"
    )
    assert out == "from the vfolder\nboot\n"
    resp = await docker_agent.client.post(
        f"/v1/kernels/{kernel_id}/files", json={"path": "data"}, headers=HEADERS
    )
    assert [f["filename"] for f in (await resp.json())["files"]] == ["input.txt"]


async def test_logs_answer_the_tail_of_a_big_log(settings: AgentSettings) -> None:
    """A session printing megabytes: the log viewer and `logs` get its last MiB, marked."""

    code = (
        "import sys\nfor i in range(40000): sys.stdout.write(f'line {i:06d} ' + 'x' * 80 + '\\n')"
    )
    async with aiodocker.Docker() as docker:
        container = await docker.containers.run(
            {
                "Image": IMAGE,
                "Cmd": ["python3", "-c", code],
                "Labels": {LABEL_AGENT_ID: settings.id},
            }
        )
        await container.wait()
        backend = DockerBackend()
        try:
            text = await backend.logs(container.id)
        finally:
            await backend.close()
    assert text.startswith("[earlier output omitted]\n")
    assert len(text) <= LOG_MAX_CHARS + 100
    assert text.rstrip("\n").endswith("line 039999 " + "x" * 80)


async def test_stats_read_cgroup_files_without_asking_docker_each_time(
    settings: AgentSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat samples every running container: after the first sample, a container's
    counters come from its cgroup files alone, and a restart (a new process) is followed."""
    async with aiodocker.Docker() as docker:
        container = await docker.containers.run(
            {
                "Image": IMAGE,
                "Cmd": ["python3", "-c", "import time; time.sleep(300)"],
                "Labels": {LABEL_AGENT_ID: settings.id},
            }
        )
        backend = DockerBackend()
        asked: list[str] = []
        real = backend._docker.containers.container

        def counted(container_id: str, **kwargs: Any) -> Any:
            asked.append(container_id)
            return real(container_id, **kwargs)

        monkeypatch.setattr(backend._docker.containers, "container", counted)
        try:
            first = await backend.stats(container.id)
            if not asked or container.id not in backend._pids:
                pytest.skip("this host's cgroup files are not visible to the agent")
            for _ in range(5):
                later = await backend.stats(container.id)
            assert len(asked) == 1
            assert int(later["cpu_used"]["current"]) >= int(first["cpu_used"]["current"])
            old_pid = backend._pids[container.id]
            await container.restart(timeout=0)
            restarted = await backend.stats(container.id)
            assert len(asked) == 2 and backend._pids[container.id] != old_pid
            assert int(restarted["mem"]["current"]) > 0
            await backend.destroy(container.id)
            assert container.id not in backend._pids
        finally:
            with contextlib.suppress(aiodocker.DockerError):
                await container.delete(force=True)
            await backend.close()
