"""The warm pool on the real Docker Engine: a claimed container gets the kernel's limits (as
the kernel sees them in its cgroup files) and environment, and stays as locked down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiodocker
import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.backends import docker as docker_backend
from backendai.agent.backends.docker import RECORD_DELAY
from backendai.agent.main import create_app
from backendai.agent.server import CONTEXT_KEY
from backendai.agent.settings import WORK_UID, AgentSettings
from tests.agent.conftest import HEADERS, IMAGE, console, create_body, make_settings, run_ws
from tests.agent.test_docker import remove_containers
from tests.agent.test_pool import until

pytestmark = [pytest.mark.slow, pytest.mark.docker]
MiB = 2**20

# The kernel's view of its limits, whichever cgroup version the host has.
READ_LIMITS = """
import os
def first(*paths):
    for p in paths:
        if os.path.exists(p):
            return open(p).read().strip()
print(first('/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory.max'))
quota = first('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')
print(quota if quota else first('/sys/fs/cgroup/cpu.max').split()[0])
print(first('/sys/fs/cgroup/cpuset/cpuset.cpus', '/sys/fs/cgroup/cpuset.cpus.effective'))
print(first('/sys/fs/cgroup/pids/pids.max', '/sys/fs/cgroup/pids.max'))
print(os.environ['POOLED'], os.environ['BACKENDAI_KERNEL_ID'], os.environ['OMP_NUM_THREADS'])
st = dict(line.split(':', 1) for line in open('/proc/self/status'))
print(os.getuid(), st['NoNewPrivs'].strip(), st['CapEff'].strip())
"""


@pytest.fixture
async def settings(short_dir: Path) -> AsyncIterator[AgentSettings]:
    agent_id = f"test-{uuid.uuid4().hex[:12]}"
    try:
        yield make_settings(short_dir, id=agent_id, backend="docker", cpu=None, mem=None,
                            pool_size=1, pool_images=[IMAGE])  # fmt: skip
    finally:
        await remove_containers(agent_id)


@pytest.mark.parametrize("through", ["cgroup files", "engine"])
async def test_a_pooled_kernel_gets_its_limits_and_environment(
    settings: AgentSettings, through: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if through == "engine":  # as when the agent cannot see the host's cgroup files
        monkeypatch.setattr(docker_backend, "write_limits", lambda *args: False)
    async with TestClient(TestServer(create_app(settings))) as client:
        pool = client.server.app[CONTEXT_KEY].registry.pool
        await until(lambda: bool(pool.idle.get(IMAGE)), within=60)
        member = pool.idle[IMAGE][0].container_id
        body = create_body(slots={"cpu": "1", "mem": str(384 * MiB)}, environ={"POOLED": "yes"})
        resp = await client.post("/v1/kernels", json=body, headers=HEADERS)
        created: dict[str, Any] = await resp.json()
        assert resp.status == 200 and created["container_id"] == member
        url = f"/v1/kernels/{created['kernel_id']}/execute"
        frames = await run_ws(client, url, READ_LIMITS, headers=HEADERS)
        assert frames[-1]["exitCode"] == 0, frames
        memory, quota, cpus, pids, env, user = console(frames).splitlines()
        assert memory == str(384 * MiB)
        assert quota == "100000"  # one core of time per 100 ms period
        assert "," not in cpus and "-" not in cpus  # exactly one core
        assert pids == str(settings.pids_limit)
        assert env == f"yes {created['kernel_id']} 1"
        assert user == f"{WORK_UID} 1 0000000000000000"
        # The limits are recorded with the engine too, so that a restart keeps them.
        await asyncio.sleep(RECORD_DELAY + 0.5)
        async with aiodocker.Docker() as docker:
            host = (await docker.containers.container(member).show())["HostConfig"]
        assert (host["NanoCpus"], host["Memory"], host["MemorySwap"]) == (
            10**9, 384 * MiB, 384 * MiB,
        )  # fmt: skip
        assert host["CpusetCpus"] == cpus and host["SecurityOpt"] == ["no-new-privileges"]
        resp = await client.delete(f"/v1/kernels/{created['kernel_id']}", headers=HEADERS)
        assert resp.status == 200
    async with aiodocker.Docker() as docker:
        left = await docker.containers.list(
            all=True, filters={"label": [f"ai.backend.agent-id={settings.id}"]}
        )
    assert left == []  # the kernel destroyed, the pool's spare removed at stop
