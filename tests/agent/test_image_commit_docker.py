"""Committing a kernel's container to a private image on the real Docker Engine.

Every image made here is removed at the end, whatever happens in the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.backends.docker import DockerBackend
from backendai.agent.main import create_app
from backendai.agent.settings import AgentSettings
from backendai.common.agent_protocol import (
    LABEL_IMAGE_OWNER,
    LABEL_KERNEL_ID,
    LABEL_SESSION_ID,
)
from tests.agent.conftest import HEADERS, IMAGE, make_settings
from tests.agent.test_docker import DockerAgent, remove_containers

pytestmark = [pytest.mark.slow, pytest.mark.docker]

OWNER = uuid.uuid4()


@pytest.fixture
async def made() -> AsyncIterator[list[str]]:
    """Names of the images a test makes; all removed afterwards."""
    names: list[str] = []
    try:
        yield names
    finally:
        async with aiodocker.Docker() as docker:
            for name in names:
                with contextlib.suppress(aiodocker.DockerError):
                    await docker.images.delete(name, force=True)


@pytest.fixture
async def agent(short_dir: Path) -> AsyncIterator[DockerAgent]:
    agent_id = f"test-{uuid.uuid4().hex[:12]}"
    settings: AgentSettings = make_settings(
        short_dir, id=agent_id, backend="docker", cpu=None, mem=None
    )
    try:
        async with TestClient(TestServer(create_app(settings))) as client:
            yield DockerAgent(client, settings)
    finally:
        await remove_containers(agent_id)


def private_name(made: list[str], owner: uuid.UUID = OWNER) -> str:
    name = f"private/{owner}/committest:{uuid.uuid4().hex[:10]}"
    made.append(name)
    return name


async def commit(
    agent: DockerAgent, kernel_id: str, image: str, owner: uuid.UUID = OWNER
) -> tuple[int, dict[str, object]]:
    resp = await agent.client.post(
        f"/v1/kernels/{kernel_id}/commit",
        json={"image": image, "labels": {LABEL_IMAGE_OWNER: str(owner)}},
        headers=HEADERS,
    )
    return resp.status, dict(await resp.json())


async def test_commit_keeps_the_system_and_leaves_home_and_session_out(
    agent: DockerAgent, made: list[str]
) -> None:
    kernel = await agent.create(environ={"MY_TOKEN": "s3cret"})
    kid = kernel["kernel_id"]
    backend = DockerBackend()
    try:
        # What `pip install` does: a file under /usr/local (the session user's in our image).
        code = await backend.exec_stream(
            kernel["container_id"],
            [
                "sh",
                "-c",
                "mkdir -p /usr/local/share/mine && echo installed > /usr/local/share/mine/f",
            ],
        )
        assert code == 0
    finally:
        await backend.close()
    await agent.stdout(kid, "open('/home/work/in-home.txt', 'w').write('home')")
    name = private_name(made)

    # The loop stays responsive while Docker commits (the call never blocks it).
    lags: list[float] = []

    async def tick() -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.02)
            lags.append(loop.time() - before - 0.02)

    ticker = asyncio.create_task(tick())
    try:
        status, info = await commit(agent, kid, name)
    finally:
        ticker.cancel()
    assert status == 200, info
    assert info["name"] == name and str(info["digest"]).startswith("sha256:")
    assert lags and max(lags) < 0.5, max(lags)

    async with aiodocker.Docker() as docker:
        config = (await docker.images.inspect(name))["Config"]
    labels, env = config["Labels"], config["Env"]
    assert labels[LABEL_IMAGE_OWNER] == str(OWNER)
    assert labels["ai.backend.kernelspec"]  # still a session image
    assert labels[LABEL_KERNEL_ID] == "" and labels[LABEL_SESSION_ID] == ""  # not the old kernel
    assert "MY_TOKEN=" in env and not any("s3cret" in e for e in env)
    assert config["Cmd"] != ["/opt/backend.ai/runner"]

    second = await agent.create(image=name)
    out = await agent.stdout(
        second["kernel_id"],
        "import os; print(open('/usr/local/share/mine/f').read().strip(), "
        "os.path.exists('/home/work/in-home.txt'), repr(os.environ.get('MY_TOKEN')))",
    )
    assert out.split() == ["installed", "False", "''"]  # emptied, never baked in

    images = await agent.client.get("/v1/images", headers=HEADERS)
    assert name in [i["name"] for i in await images.json()]
    resp = await agent.client.post("/v1/images/remove", json={"image": name}, headers=HEADERS)
    assert resp.status == 400 and "in use" in await resp.text()  # the second kernel runs it
    await agent.client.delete(f"/v1/kernels/{second['kernel_id']}", headers=HEADERS)
    resp = await agent.client.post("/v1/images/remove", json={"image": name}, headers=HEADERS)
    assert resp.status == 204
    async with aiodocker.Docker() as docker:
        with pytest.raises(aiodocker.DockerError):
            await docker.images.inspect(name)


async def test_commit_never_takes_a_public_or_anothers_name(
    agent: DockerAgent, made: list[str]
) -> None:
    kid = (await agent.create())["kernel_id"]
    status, body = await commit(agent, kid, IMAGE)
    assert status == 400, body
    status, body = await commit(agent, kid, f"private/{uuid.uuid4()}/x:1")  # label != name
    assert status == 400, body
    name = private_name(made)
    assert (await commit(agent, kid, name))[0] == 200
    other = uuid.uuid4()
    status, body = await commit(agent, kid, name.replace(str(OWNER), str(other)), other)
    assert status == 200, body  # its own namespace
    made.append(name.replace(str(OWNER), str(other)))
    resp = await agent.client.post("/v1/images/remove", json={"image": IMAGE}, headers=HEADERS)
    assert resp.status == 400
    async with aiodocker.Docker() as docker:
        await docker.images.inspect(IMAGE)  # untouched
