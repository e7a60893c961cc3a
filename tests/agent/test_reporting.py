"""Heartbeats and kernel events sent to (a stub of) the manager."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.backends.fake import FakeBackend
from backendai.agent.main import create_app
from backendai.common.agent_protocol import AgentHeartbeat, KernelEvent
from tests.agent.conftest import HEADERS, TOKEN, StubManager, create_body, make_settings


async def start(
    short_dir: Path, manager_url: str, backend: FakeBackend, **settings: Any
) -> TestClient[Any, Any]:
    app = create_app(
        make_settings(short_dir, manager_url=manager_url, heartbeat_interval=0.05, **settings),
        backend,
    )
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_heartbeat_reports_slots_containers_and_images(
    short_dir: Path, manager: StubManager
) -> None:
    backend = FakeBackend()
    client = await start(short_dir, manager.url, backend, cpu=2, mem=2**30, scaling_group="gpu")
    try:
        resp = await client.post("/v1/kernels", json=create_body(), headers=HEADERS)
        kernel_id = (await resp.json())["kernel_id"]
        manager.heartbeats.clear()
        await manager.wait_for("heartbeats", 1)
        hb = AgentHeartbeat.model_validate(manager.heartbeats[-1])
        assert hb.agent_id == "test-agent" and hb.scaling_group == "gpu"
        assert hb.available_slots == {"cpu": "2", "mem": str(2**30)}
        assert [str(c.kernel_id) for c in hb.containers] == [kernel_id]
        assert hb.images[0].name == "backendai/python:3.11-debian12"
        assert hb.addr.startswith("http://127.0.0.1:")
        assert set(manager.tokens) == {TOKEN}
    finally:
        await client.close()
        await backend.close()


async def test_manager_down_is_tolerated(short_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    backend = FakeBackend()
    client = await start(short_dir, "http://127.0.0.1:9", backend)
    try:
        with caplog.at_level(logging.WARNING):
            await asyncio.sleep(0.3)  # several heartbeats fail meanwhile
        resp = await client.post("/v1/kernels", json=create_body(), headers=HEADERS)
        assert resp.status == 200
        warnings = [r for r in caplog.records if "did not take" in r.getMessage()]
        assert len(warnings) == 1  # said once, not on every attempt
    finally:
        await client.close()
        await backend.close()


async def test_a_crash_is_reported_once(short_dir: Path, manager: StubManager) -> None:
    backend = FakeBackend()
    client = await start(short_dir, manager.url, backend)
    try:
        resp = await client.post("/v1/kernels", json=create_body(), headers=HEADERS)
        kernel_id = (await resp.json())["kernel_id"]
        [container_id] = backend.containers
        backend.crash(container_id, exit_code=3)
        await manager.wait_for("events", 1)
        event = KernelEvent.model_validate(manager.events[0])
        assert str(event.kernel_id) == kernel_id and event.agent_id == "test-agent"
        assert event.kind == "kernel_terminated" and event.reason == "self-terminated"
        assert event.exit_code == 3
        backend.break_event_streams()  # a reconnect rescans, and must not repeat it
        await asyncio.sleep(1.3)
        assert len(manager.events) == 1
    finally:
        await client.close()
        await backend.close()


async def test_an_oom_kill_is_reported_with_the_memory_limit(
    short_dir: Path, manager: StubManager
) -> None:
    backend = FakeBackend()
    client = await start(short_dir, manager.url, backend)
    try:
        body = create_body(slots={"cpu": "1", "mem": str(64 * 2**20)})
        await client.post("/v1/kernels", json=body, headers=HEADERS)
        [container_id] = backend.containers
        backend.crash(container_id, exit_code=137, oom=True)
        await manager.wait_for("events", 1)
        event = KernelEvent.model_validate(manager.events[0])
        assert event.reason == "oom-killed" and event.exit_code == 137
        assert "64 MiB" in event.message
    finally:
        await client.close()
        await backend.close()


async def test_a_run_cut_short_by_the_oom_stop_says_why(
    short_dir: Path, manager: StubManager
) -> None:
    """The agent stops an out-of-memory kernel; a run waiting on it ends with 137 and the limit,
    not with a bare "runner stopped", even when the stop beats the runner's own report."""
    backend = FakeBackend()
    client = await start(short_dir, manager.url, backend)
    try:
        body = create_body(slots={"cpu": "1", "mem": str(64 * 2**20)})
        kernel_id = (await (await client.post("/v1/kernels", json=body, headers=HEADERS)).json())[
            "kernel_id"
        ]
        [container_id] = backend.containers
        url = f"/v1/kernels/{kernel_id}/execute"
        async with client.ws_connect(url, headers=HEADERS) as ws:
            code = "import time; time.sleep(30)"
            await ws.send_json({"code": code, "mode": "query", "options": {}})
            await asyncio.sleep(0.3)
            backend.oom_event(container_id)
            frame = await asyncio.wait_for(ws.receive_json(), 10)
        assert frame["status"] == "finished" and frame["exitCode"] == 137
        assert "memory limit: 64 MiB" in frame["console"][0][1]
        await manager.wait_for("events", 1)
        event = KernelEvent.model_validate(manager.events[0])
        assert event.reason == "oom-killed" and "64 MiB" in event.message
    finally:
        await client.close()
        await backend.close()


async def test_destroyed_and_restarted_kernels_are_not_reported(
    short_dir: Path, manager: StubManager
) -> None:
    backend = FakeBackend()
    client = await start(short_dir, manager.url, backend)
    try:
        first = await (await client.post("/v1/kernels", json=create_body(), headers=HEADERS)).json()
        second = await (
            await client.post("/v1/kernels", json=create_body(), headers=HEADERS)
        ).json()
        await client.delete(f"/v1/kernels/{first['kernel_id']}", headers=HEADERS)
        await client.post(f"/v1/kernels/{second['kernel_id']}/restart", headers=HEADERS)
        await asyncio.sleep(0.3)
        assert manager.events == []
    finally:
        await client.close()
        await backend.close()


async def test_a_death_while_the_agent_was_down_is_reported_on_start(
    short_dir: Path, manager: StubManager
) -> None:
    backend = FakeBackend()
    client = await start(short_dir, "", backend)  # no manager: nothing reported
    await client.post("/v1/kernels", json=create_body(), headers=HEADERS)
    await client.close()
    [container_id] = backend.containers
    backend.crash(container_id, exit_code=1)
    client = await start(short_dir, manager.url, backend)
    try:
        await manager.wait_for("events", 1)
        assert manager.events[0]["reason"] == "self-terminated"
    finally:
        await client.close()
        await backend.close()
