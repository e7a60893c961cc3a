"""Batch tasks on the real Docker Engine: the task runs once in the container, its log and
exit code reach the agent's route and the manager; a task killed for memory reports 137."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiodocker
import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.main import create_app
from backendai.agent.server import CONTEXT_KEY
from backendai.agent.settings import WORK_UID, AgentSettings
from backendai.common.agent_protocol import LABEL_AGENT_ID
from backendai.common.batch_tasks import TASK_EXIT_HEADER, TASK_STATE_HEADER, BatchTask
from tests.agent.conftest import HEADERS, IMAGE, StubManager, create_body, make_settings
from tests.agent.test_batch_tasks import create_task, finished_event, task_log
from tests.agent.test_docker import remove_containers

pytestmark = [pytest.mark.slow, pytest.mark.docker]
MiB = 2**20


@pytest.fixture
async def settings(short_dir: Path) -> AsyncIterator[AgentSettings]:
    async with aiodocker.Docker() as docker:
        await docker.images.inspect(IMAGE)  # scripts/setup.sh builds it
    agent_id = f"test-{uuid.uuid4().hex[:12]}"
    try:
        yield make_settings(short_dir, id=agent_id, backend="docker", cpu=None, mem=None)
    finally:
        await remove_containers(agent_id)


@pytest.fixture
async def client(
    settings: AgentSettings, manager: StubManager
) -> AsyncIterator[TestClient[Any, Any]]:
    watched = settings.model_copy(update={"manager_url": manager.url, "heartbeat_interval": 0.5})
    async with TestClient(TestServer(create_app(watched))) as client:
        try:
            yield client
        finally:
            await client.app[CONTEXT_KEY].registry.tasks.close()


async def test_a_shell_task_ends_with_its_exit_code_and_output(
    client: TestClient[Any, Any], manager: StubManager
) -> None:
    kernel_id = await create_task(client, BatchTask.shell("echo out; echo err >&2; exit 3"))
    event = await finished_event(manager, kernel_id)
    assert event["exit_code"] == 3 and event["kind"] == "kernel_task_finished"
    status, headers, body = await task_log(client, kernel_id)
    assert status == 200 and headers[TASK_EXIT_HEADER] == "3"
    assert sorted(body.splitlines()) == ["err", "out"]


async def test_a_query_task(client: TestClient[Any, Any], manager: StubManager) -> None:
    kernel_id = await create_task(client, BatchTask(mode="query", code="print(6*7)"))
    assert (await finished_event(manager, kernel_id))["exit_code"] == 0
    _, headers, body = await task_log(client, kernel_id)
    assert (headers[TASK_STATE_HEADER], body) == ("finished", "42\n")


async def test_following_a_task_that_prints_for_two_seconds(client: TestClient[Any, Any]) -> None:
    code = (
        "import time\nfor i in range(5):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.5)\n"
    )
    kernel_id = await create_task(client, BatchTask(mode="query", code=code))
    arrivals: list[tuple[float, bytes]] = []
    url = f"/v1/kernels/{kernel_id}/task-log?follow=1"
    async with asyncio.timeout(30), client.get(url, headers=HEADERS) as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_any():
            arrivals.append((time.monotonic(), chunk))
    assert b"".join(c for _, c in arrivals).decode() == "".join(f"tick {i}\n" for i in range(5))
    first = next(t for t, c in arrivals if b"tick 0" in c)
    last = next(t for t, c in arrivals if b"tick 4" in c)
    assert last - first > 1.5  # streamed as printed, not at the end


async def test_the_task_runs_as_the_session_user_with_its_environment(
    client: TestClient[Any, Any], manager: StubManager
) -> None:
    command = 'echo "$(id -u) $HOME $(pwd) $GREETING"'
    kernel_id = await create_task(client, BatchTask.shell(command), environ={"GREETING": "hi"})
    await finished_event(manager, kernel_id)
    assert (await task_log(client, kernel_id))[2] == f"{WORK_UID} /home/work /home/work hi\n"


async def test_a_task_killed_for_memory_reports_137(
    client: TestClient[Any, Any], manager: StubManager
) -> None:
    task = BatchTask(mode="query", code="x = bytearray(512 * 2**20)\nprint('survived')")
    kernel_id = await create_task(client, task, slots={"cpu": "1", "mem": str(128 * MiB)})
    assert (await finished_event(manager, kernel_id))["exit_code"] == 137
    body = (await task_log(client, kernel_id))[2]
    assert "survived" not in body and "ran out of memory" in body


async def test_a_failing_bootstrap_leaves_no_container(
    client: TestClient[Any, Any], settings: AgentSettings
) -> None:
    body = create_body(bootstrap_script="echo boom; exit 4", session_type="batch",
                       task=BatchTask.shell("echo never").model_dump())  # fmt: skip
    resp = await client.post("/v1/kernels", json=body, headers=HEADERS)
    problem = await resp.json()
    assert resp.status == 500
    assert "exited with code 4" in problem["msg"] and "boom" in problem["msg"]
    async with aiodocker.Docker() as docker:
        left = await docker.containers.list(
            all=True, filters={"label": [f"{LABEL_AGENT_ID}={settings.id}"]}
        )
    assert left == []
    assert (await task_log(client, str(uuid.UUID(body["kernel_id"]))))[0] == 404


async def test_a_bootstrap_runs_before_the_task_as_the_session_user(
    client: TestClient[Any, Any], manager: StubManager
) -> None:
    # A local repository cloned as a template's git section does, with the user's HOME.
    script = (
        'echo "$(id -u) $HOME $(pwd) $GREETING" > booted\n'
        "git init -q repo && cd repo && echo hello > README\n"
        "git add README && git -c user.name=t -c user.email=t@example.com commit -qm first\n"
        "cd .. && git clone -q repo clone\n"
    )
    task = BatchTask.shell("cat booted clone/README")
    kernel_id = await create_task(client, task, bootstrap_script=script, environ={"GREETING": "hi"})
    assert (await finished_event(manager, kernel_id))["exit_code"] == 0
    body = (await task_log(client, kernel_id))[2]
    assert body == f"{WORK_UID} /home/work /home/work hi\nhello\n"
