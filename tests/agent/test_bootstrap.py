"""The bootstrap script on the fake backend: its failure or timeout fails the kernel's creation
with the end of its output, and leaves nothing behind (Docker's side: test_bootstrap_docker)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.backends.fake import FakeBackend
from backendai.agent.backends.protocol import OutputCallback
from backendai.agent.bootstrap import OUTPUT_TAIL, OutputTail
from backendai.agent.layout import kernel_paths
from backendai.agent.main import create_app
from backendai.agent.settings import AgentSettings
from backendai.common.batch_tasks import BatchTask
from tests.agent.conftest import HEADERS, create_body, make_settings


class ScriptedExec(FakeBackend):
    """Execs write ``output`` (on stdout, then ``stderr`` on stderr) and exit ``code``;
    ``hang``: they never end."""

    def __init__(self, code: int, output: bytes = b"", stderr: bytes = b"", hang: bool = False):
        super().__init__()
        self.code, self.output, self.stderr, self.hang = code, output, stderr, hang

    async def exec_stream(
        self,
        container_id: str,
        argv: list[str],
        *,
        user: str | None = None,
        on_output: OutputCallback | None = None,
    ) -> int:
        await super().exec_stream(container_id, argv, user=user, on_output=on_output)
        if on_output is not None:
            on_output("stdout", self.output)
            on_output("stderr", self.stderr)
        if self.hang:
            await asyncio.Event().wait()
        return self.code


@pytest.fixture
def settings(short_dir: Path) -> AgentSettings:
    return make_settings(short_dir, bootstrap_timeout=0.5)


async def create(
    settings: AgentSettings, backend: FakeBackend, **body: Any
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    payload = create_body(**body)
    async with TestClient(TestServer(create_app(settings, backend))) as client:
        resp = await client.post("/v1/kernels", json=payload, headers=HEADERS)
        return resp.status, await resp.json(), payload


@pytest.fixture
async def backends() -> AsyncIterator[list[FakeBackend]]:
    made: list[FakeBackend] = []
    yield made
    for backend in made:
        await backend.close()


async def test_a_failing_script_fails_the_creation_with_its_output(
    settings: AgentSettings, backends: list[FakeBackend]
) -> None:
    backend = ScriptedExec(4, b"cloning...\n", b"boom\n")
    backends.append(backend)
    task = BatchTask.shell("echo never").model_dump()
    status, problem, body = await create(
        settings, backend, bootstrap_script="echo boom; exit 4", session_type="batch", task=task
    )
    assert status == 500 and problem["type"].endswith("kernel-creation-failed")
    assert "The bootstrap script exited with code 4." in problem["msg"]
    assert problem["msg"].endswith("cloning...\nboom\n")
    # Nothing left: no container, no kernel directory (and no task ran).
    assert backend.containers == {}
    assert not kernel_paths(settings.data_dir, uuid.UUID(body["kernel_id"])).root.exists()
    # As the session's user, by the shell.
    user = f"{settings.uid}:{settings.gid}"
    assert backend.exec_calls[0][1:] == (["/bin/sh", "-c", "echo boom; exit 4"], user)


async def test_a_script_past_its_timeout_fails_the_creation(
    settings: AgentSettings, backends: list[FakeBackend]
) -> None:
    backend = ScriptedExec(0, b"still cloning\n", hang=True)
    backends.append(backend)
    status, problem, _ = await create(settings, backend, bootstrap_script="sleep 100")
    assert status == 500
    assert "did not finish within 0.5 s ([agent] bootstrap_timeout)" in problem["msg"]
    assert "still cloning" in problem["msg"]
    assert backend.containers == {}


async def test_a_silent_failure_says_so(
    settings: AgentSettings, backends: list[FakeBackend]
) -> None:
    backend = ScriptedExec(1)
    backends.append(backend)
    status, problem, _ = await create(settings, backend, bootstrap_script="false")
    assert status == 500
    assert "exited with code 1. It wrote nothing." in problem["msg"]


async def test_a_script_that_succeeds_lets_the_kernel_start(
    settings: AgentSettings, backends: list[FakeBackend]
) -> None:
    backend = ScriptedExec(0, b"fine\n")
    backends.append(backend)
    status, created, _ = await create(settings, backend, bootstrap_script="true")
    assert status == 200 and len(backend.containers) == 1
    assert created["container_id"] in backend.containers


def test_the_output_tail_keeps_the_last_bytes_only() -> None:
    tail = OutputTail()
    for i in range(10_000):
        tail.add("stdout", f"line {i}\n".encode())
        assert len(tail.data) <= 2 * OUTPUT_TAIL
    tail.add("stderr", b"x" * (10 * OUTPUT_TAIL) + b"the end")
    assert len(tail.text()) == OUTPUT_TAIL and tail.text().endswith("xthe end")
    assert OutputTail().text() == ""
