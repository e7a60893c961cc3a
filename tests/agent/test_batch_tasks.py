"""Batch tasks on the agent, on the fake backend (which runs the real runner on the host): the
task's run, its bounded log and the task-log route, its end event and heartbeats, and what a
restarted agent makes of it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.backends.fake import FakeBackend
from backendai.agent.kernels import KernelRegistry
from backendai.agent.layout import kernel_paths
from backendai.agent.main import create_app
from backendai.agent.server import CONTEXT_KEY
from backendai.agent.settings import AgentSettings
from backendai.agent.task_log import (
    LogReader,
    LogWriter,
    TaskRecord,
    log_path,
    read_record,
    write_record,
)
from backendai.common.batch_tasks import (
    TASK_EXIT_HEADER,
    TASK_INTERRUPTED_EXIT,
    TASK_STATE_HEADER,
    BatchTask,
    truncation_note,
)
from tests.agent.conftest import HEADERS, StubManager, create_body, make_settings

# --- the files ---------------------------------------------------------------------------------


def test_log_writer_keeps_the_first_bytes_and_counts_the_rest(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path, limit=10)
    writer.write(b"12345")
    writer.write(b"6789abcdef")
    writer.write(b"more")
    writer.append_note("|note")
    writer.close()
    writer.close()  # twice is harmless
    assert writer.dropped == 9
    assert log_path(tmp_path).read_bytes() == b"123456789a|note"


def test_log_writer_appends_to_what_an_earlier_agent_wrote(tmp_path: Path) -> None:
    log_path(tmp_path).write_bytes(b"12345678")
    writer = LogWriter(tmp_path, limit=10)
    writer.write(b"abcd")
    writer.close()
    assert (writer.written, writer.dropped) == (10, 2)
    assert log_path(tmp_path).read_bytes() == b"12345678ab"


def test_log_reader_reads_from_an_offset_in_bounded_chunks(tmp_path: Path) -> None:
    reader = LogReader(tmp_path, offset=3)
    assert reader.read() == b""  # no log yet: nothing, no error
    log_path(tmp_path).write_bytes(b"0123456789" * 20_000)
    chunks = []
    while data := reader.read():
        chunks.append(data)
    reader.close()
    assert max(len(c) for c in chunks) == 64 * 1024
    assert b"".join(chunks) == (b"0123456789" * 20_000)[3:]


def test_state_file_round_trip_and_no_symlinks(tmp_path: Path) -> None:
    assert read_record(tmp_path) is None
    record = TaskRecord(task=BatchTask.shell("echo hi"), state="finished", exit_code=3)
    write_record(tmp_path, record)
    write_record(tmp_path, record)  # replaced, not appended
    assert read_record(tmp_path) == record
    assert sorted(p.name for p in tmp_path.iterdir()) == ["task.json"]
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "task.log").symlink_to(tmp_path / "secret")
    with pytest.raises(OSError):
        LogWriter(other, limit=10)
    assert not (tmp_path / "secret").exists()


# --- a task on an agent --------------------------------------------------------------------------


@asynccontextmanager
async def running_agent(
    settings: AgentSettings, backend: FakeBackend
) -> AsyncIterator[TestClient[Any, Any]]:
    """The agent app; on the way out its task runs stop as a stopping agent's would."""
    async with TestClient(TestServer(create_app(settings, backend))) as client:
        try:
            yield client
        finally:
            await registry_of(client).tasks.close()


def registry_of(client: TestClient[Any, Any]) -> KernelRegistry:
    registry: KernelRegistry = client.app[CONTEXT_KEY].registry
    return registry


@pytest.fixture
def settings(short_dir: Path, manager: StubManager) -> AgentSettings:
    return make_settings(short_dir, manager_url=manager.url, heartbeat_interval=0.2)


@pytest.fixture
async def backend() -> AsyncIterator[FakeBackend]:
    backend = FakeBackend()
    yield backend
    await backend.close()


@pytest.fixture
async def client(
    settings: AgentSettings, backend: FakeBackend
) -> AsyncIterator[TestClient[Any, Any]]:
    async with running_agent(settings, backend) as client:
        yield client


async def create_task(client: TestClient[Any, Any], task: BatchTask, **body: Any) -> str:
    payload = create_body(session_type="batch", task=task.model_dump(), **body)
    resp = await client.post("/v1/kernels", json=payload, headers=HEADERS)
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["kernel_id"])


async def finished_event(manager: StubManager, kernel_id: str) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            for event in manager.events:
                if event["kernel_id"] == kernel_id and event["kind"] == "kernel_task_finished":
                    return event
            manager.changed.clear()
            await manager.changed.wait()


async def task_log(
    client: TestClient[Any, Any], kernel_id: str, query: str = ""
) -> tuple[int, dict[str, str], str]:
    resp = await client.get(f"/v1/kernels/{kernel_id}/task-log{query}", headers=HEADERS)
    return resp.status, dict(resp.headers), await resp.text()


async def test_a_shell_task_logs_both_streams_and_reports_its_exit_code(
    client: TestClient[Any, Any], manager: StubManager
) -> None:
    kernel_id = await create_task(client, BatchTask.shell("echo out; echo err >&2; exit 3"))
    event = await finished_event(manager, kernel_id)
    assert event["exit_code"] == 3 and event["agent_id"] == "test-agent"
    status, headers, body = await task_log(client, kernel_id)
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers[TASK_STATE_HEADER] == "finished" and headers[TASK_EXIT_HEADER] == "3"
    assert sorted(body.splitlines()) == ["err", "out"]
    # Every heartbeat from then on carries the code.
    count = len(manager.heartbeats)
    await manager.wait_for("heartbeats", count + 1)
    infos = [c for c in manager.heartbeats[-1]["containers"] if c["kernel_id"] == kernel_id]
    assert infos[0]["task_exit_code"] == 3


async def test_a_query_task_runs_in_the_interpreter(
    client: TestClient[Any, Any], manager: StubManager
) -> None:
    kernel_id = await create_task(client, BatchTask(mode="query", code="print(6*7)"))
    assert (await finished_event(manager, kernel_id))["exit_code"] == 0
    assert (await task_log(client, kernel_id))[2] == "42\n"


async def test_the_create_call_answers_before_the_task_ends(
    client: TestClient[Any, Any], manager: StubManager
) -> None:
    started = time.monotonic()
    kernel_id = await create_task(client, BatchTask.shell("sleep 4; echo late"))
    assert time.monotonic() - started < 3.5
    status, headers, body = await task_log(client, kernel_id)
    assert status == 200 and headers[TASK_STATE_HEADER] in ("not-started", "running")
    assert TASK_EXIT_HEADER not in headers and body == ""
    await finished_event(manager, kernel_id)
    assert (await task_log(client, kernel_id))[2] == "late\n"


async def test_follow_streams_output_as_it_comes_and_ends_with_the_task(
    client: TestClient[Any, Any],
) -> None:
    command = "for i in 1 2 3 4; do echo line$i; sleep 0.5; done"
    kernel_id = await create_task(client, BatchTask.shell(command))
    arrivals: list[tuple[float, bytes]] = []
    url = f"/v1/kernels/{kernel_id}/task-log?follow=1"
    async with asyncio.timeout(20):
        resp = await client.get(url, headers=HEADERS)
        assert resp.status == 200
        async for chunk in resp.content.iter_any():
            arrivals.append((time.monotonic(), chunk))
    body = b"".join(c for _, c in arrivals).decode()
    assert body == "line1\nline2\nline3\nline4\n"
    # Streamed: the first line came well before the last one.
    first = next(t for t, c in arrivals if b"line1" in c)
    last = next(t for t, c in arrivals if b"line4" in c)
    assert last - first > 1.0


async def test_offsets_and_bad_queries(client: TestClient[Any, Any], manager: StubManager) -> None:
    kernel_id = await create_task(client, BatchTask.shell("echo abcdef"))
    await finished_event(manager, kernel_id)
    assert (await task_log(client, kernel_id, "?offset=2"))[2] == "cdef\n"
    assert (await task_log(client, kernel_id, "?offset=100&follow=1"))[2] == ""
    for query in ("?offset=-1", "?offset=abc", "?follow=maybe"):
        status, _, body = await task_log(client, kernel_id, query)
        assert status == 400 and ("offset" in body or "follow" in body), (query, body)


async def test_no_task_no_log(client: TestClient[Any, Any]) -> None:
    body = create_body()
    resp = await client.post("/v1/kernels", json=body, headers=HEADERS)
    assert resp.status == 200
    status, _, text = await task_log(client, body["kernel_id"])
    assert status == 404 and "task-not-found" in text
    assert (await task_log(client, str(uuid.uuid4())))[0] == 404
    resp = await client.get(f"/v1/kernels/{body['kernel_id']}/task-log")  # no agent token
    assert resp.status == 401


async def test_the_log_is_bounded_and_says_how_much_was_dropped(
    short_dir: Path, manager: StubManager, backend: FakeBackend
) -> None:
    settings = make_settings(short_dir, manager_url=manager.url, task_log_limit=4096)
    async with running_agent(settings, backend) as client:
        kernel_id = await create_task(client, BatchTask(mode="query", code="print('x' * 9999)"))
        await finished_event(manager, kernel_id)
        body = (await task_log(client, kernel_id))[2]
    assert body == "x" * 4096 + truncation_note(10000 - 4096)


async def test_destroying_the_kernel_removes_its_task(
    client: TestClient[Any, Any], settings: AgentSettings
) -> None:
    kernel_id = await create_task(client, BatchTask.shell("sleep 30"))
    url = f"/v1/kernels/{kernel_id}/task-log?follow=1"
    follower = asyncio.ensure_future(client.get(url, headers=HEADERS))
    await asyncio.sleep(0.5)
    resp = await client.delete(f"/v1/kernels/{kernel_id}", headers=HEADERS)
    assert resp.status == 200
    async with asyncio.timeout(10):  # the follower is not left hanging
        await (await follower).read()
    assert not kernel_paths(settings.data_dir, uuid.UUID(kernel_id)).root.exists()
    assert (await task_log(client, kernel_id))[0] == 404


async def test_a_restarted_agent_finishes_a_running_task_as_interrupted(
    settings: AgentSettings, backend: FakeBackend, manager: StubManager
) -> None:
    async with running_agent(settings, backend) as client:
        kernel_id = await create_task(client, BatchTask.shell("echo begun; sleep 30"))
        root = kernel_paths(settings.data_dir, uuid.UUID(kernel_id)).root
        url = f"/v1/kernels/{kernel_id}/task-log?follow=1"
        async with asyncio.timeout(10), client.get(url, headers=HEADERS) as resp:
            assert await resp.content.readline() == b"begun\n"
    record = read_record(root)
    assert record is not None and record.state == "running"
    async with running_agent(settings, backend) as client:
        event = await finished_event(manager, kernel_id)
        assert event["exit_code"] == TASK_INTERRUPTED_EXIT
        _, headers, body = await task_log(client, kernel_id, "?follow=1")
    assert headers[TASK_EXIT_HEADER] == str(TASK_INTERRUPTED_EXIT)
    assert body.startswith("begun\n") and "agent restarted" in body


async def test_a_restarted_agent_keeps_reporting_a_finished_task(
    settings: AgentSettings, backend: FakeBackend, manager: StubManager
) -> None:
    async with running_agent(settings, backend) as client:
        kernel_id = await create_task(client, BatchTask.shell("echo done; exit 5"))
        await finished_event(manager, kernel_id)
    manager.events.clear()
    count = len(manager.heartbeats)
    async with running_agent(settings, backend) as client:
        await manager.wait_for("heartbeats", count + 1)
        infos = [c for c in manager.heartbeats[-1]["containers"] if c["kernel_id"] == kernel_id]
        assert infos[0]["task_exit_code"] == 5
        _, headers, body = await task_log(client, kernel_id)
    assert (headers[TASK_STATE_HEADER], headers[TASK_EXIT_HEADER], body) == (
        "finished",
        "5",
        "done\n",
    )
    assert manager.events == []  # told once; the heartbeats say it since


async def test_a_restarted_agent_starts_a_task_that_never_reached_the_runner(
    settings: AgentSettings, backend: FakeBackend, manager: StubManager
) -> None:
    async with running_agent(settings, backend) as client:
        body = create_body(session_type="batch")
        assert (await client.post("/v1/kernels", json=body, headers=HEADERS)).status == 200
    root = kernel_paths(settings.data_dir, uuid.UUID(body["kernel_id"])).root
    write_record(root, TaskRecord(task=BatchTask.shell("echo at last")))
    async with running_agent(settings, backend) as client:
        assert (await finished_event(manager, body["kernel_id"]))["exit_code"] == 0
        assert (await task_log(client, body["kernel_id"]))[2] == "at last\n"


async def test_a_task_is_not_run_twice_after_a_restart(
    settings: AgentSettings, backend: FakeBackend, manager: StubManager
) -> None:
    async with running_agent(settings, backend) as client:
        kernel_id = await create_task(client, BatchTask.shell("echo once >> runs"))
        await finished_event(manager, kernel_id)
    async with running_agent(settings, backend):
        await manager.wait_for("heartbeats", len(manager.heartbeats) + 1)
    home = kernel_paths(settings.data_dir, uuid.UUID(kernel_id)).home
    assert (home / "runs").read_text() == "once\n"


async def test_a_task_that_asks_for_input_gets_an_empty_line(
    client: TestClient[Any, Any], manager: StubManager
) -> None:
    task = BatchTask(mode="query", code="print(repr(input('name? ')))")
    kernel_id = await create_task(client, task)
    assert (await finished_event(manager, kernel_id))["exit_code"] == 0
    assert (await task_log(client, kernel_id))[2] == "name? ''\n"
