"""Spare session networks on the fake backend: a cold start takes one and makes none, a spare
is replaced only once the agent is quiet, kernels of one session share the spare its first one
took (at once, later, after a restart), the sweep never takes a spare, spares left by a crash
go and another agent's stay, and a stop leaves no network behind, not even one being made."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent import network_spares
from backendai.agent.backends.fake import FakeBackend
from backendai.agent.backends.protocol import NetworkSpec
from backendai.agent.errors import BackendError
from backendai.agent.layout import LABEL_NETWORK
from backendai.agent.main import create_app
from backendai.agent.network_spares import SpareNetworks
from backendai.agent.networks import SessionNetworks
from backendai.common.agent_protocol import LABEL_AGENT_ID, LABEL_SESSION_ID
from tests.agent.conftest import HEADERS, make_settings
from tests.agent.test_networks import AGENT_ID, agent_networks, names, network_of
from tests.agent.test_pool import PoolAgent, until


async def start(data_dir: Path, backend: FakeBackend, **settings: Any) -> PoolAgent:
    app = create_app(make_settings(data_dir, **({"network_spares": 1} | settings)), backend)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    return PoolAgent(client, backend, data_dir)


def spares(agent: PoolAgent) -> list[str]:
    return agent.registry.networks.spares.ready


async def until_spares(agent: PoolAgent, count: int) -> list[str]:
    await until(lambda: len(spares(agent)) >= count)
    return list(spares(agent))


async def destroy(agent: PoolAgent, kernel_id: str) -> None:
    resp = await agent.client.delete(f"/v1/kernels/{kernel_id}", headers=HEADERS)
    assert resp.status == 200


class FinishingBackend(FakeBackend):
    """Network creates take a moment and, as the Docker Engine's, finish even when the caller
    is gone (cancelled)."""

    def __init__(self) -> None:
        super().__init__()
        self.pending = 0  # creates the engine is working on

    async def create_network(self, spec: NetworkSpec) -> str:
        self.pending += 1
        return await asyncio.shield(self._create_slowly(spec))

    async def _create_slowly(self, spec: NetworkSpec) -> str:
        try:
            await asyncio.sleep(0.2)
            return await super().create_network(spec)
        finally:
            self.pending -= 1


class TimedBackend(FakeBackend):
    """Starts and removals of containers take a while; when each network create began."""

    def __init__(self) -> None:
        super().__init__()
        self.network_times: list[float] = []

    async def create_network(self, spec: NetworkSpec) -> str:
        self.network_times.append(asyncio.get_running_loop().time())
        return await super().create_network(spec)

    async def start(self, container_id: str) -> None:
        await asyncio.sleep(0.2)
        await super().start(container_id)

    async def destroy(self, container_id: str) -> None:
        await asyncio.sleep(0.2)
        await super().destroy(container_id)


class FlakyBackend(FakeBackend):
    """The first ``failures`` network creates fail."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures, self.failed = failures, 0

    async def create_network(self, spec: NetworkSpec) -> str:
        if self.failed < self.failures:
            self.failed += 1
            raise BackendError("Docker could not create the network (FlakyBackend).")
        return await super().create_network(spec)


async def test_a_cold_start_takes_a_spare_and_makes_no_network(short_dir: Path) -> None:
    backend = FakeBackend()
    agent = await start(short_dir, backend)
    try:
        [spare] = await until_spares(agent, 1)
        made = backend.network_creates
        session_id = str(uuid.uuid4())
        created = await agent.create(session_id=session_id)
        network = network_of(backend, created["container_id"])
        assert network.name == spare and backend.network_creates == made
        # Made before any session was known: no session label. Its container says whose it is.
        assert network.labels == {LABEL_AGENT_ID: AGENT_ID, LABEL_NETWORK: "session"}
        assert backend.containers[created["container_id"]].spec.labels[LABEL_SESSION_ID] == (
            session_id
        )
        # Replaced; and the session's network goes with the session.
        [replacement] = await until_spares(agent, 1)
        assert replacement != spare and backend.network_creates == made + 1
        await destroy(agent, created["kernel_id"])
        await until(lambda: spare not in names(backend))
        assert replacement in names(backend)
    finally:
        await agent.client.close()
        await backend.close()
    assert agent_networks(backend) == set()  # the spare left goes at stop


async def test_without_spares_a_cold_start_makes_its_network(short_dir: Path) -> None:
    backend = FakeBackend()
    agent = await start(short_dir, backend, network_spares=0)
    try:
        created = await agent.create()
        assert backend.network_creates == 1 and spares(agent) == []
        assert network_of(backend, created["container_id"]).name.startswith("bai-session-")
    finally:
        await agent.client.close()
        await backend.close()


async def test_a_spare_is_made_only_once_the_agent_is_quiet() -> None:
    loop = asyncio.get_running_loop()
    calls: list[tuple[float, int]] = []  # (loop time, kernels being created or destroyed)

    async def make() -> str:
        calls.append((loop.time(), stock._busy))
        return f"net-{len(calls)}"

    stock = SpareNetworks(1, make, quiet=0.2)
    stock.start()
    await until(lambda: stock.ready == ["net-1"])
    with stock.busy():  # a kernel's create: it takes the spare, then starts for a while
        assert stock.take() == "net-1"
        await asyncio.sleep(0.3)
    with stock.busy():  # a destroy right after: the quiet period starts again
        await asyncio.sleep(0.1)
    ended = loop.time()
    await until(lambda: stock.ready == ["net-2"])
    made_at, busy = calls[1]
    assert stock.busy_until <= ended  # the second spell, the last one
    assert busy == 0 and made_at >= stock.busy_until + 0.2 - 0.001
    assert await stock.stop() == ["net-2"] and stock.ready == []


async def test_no_spare_is_made_while_a_kernel_starts_or_ends(short_dir: Path) -> None:
    backend = TimedBackend()
    agent = await start(short_dir, backend)
    try:
        await until_spares(agent, 1)
        created = await agent.create()  # takes the spare, then starts its container
        began = asyncio.get_running_loop().time()
        await destroy(agent, created["kernel_id"])  # at once: the agent is still busy
        await until_spares(agent, 1)
        [_, replaced_at] = backend.network_times
        # The destroy (0.2 s on this backend) kept the agent busy, and the replacement waited
        # QUIET after it. Measured from the stock's own clock: the HTTP answer reaches the test
        # a moment after the busy spell ended, which made a bound on it flaky.
        busy_until = agent.registry.networks.spares.busy_until
        assert busy_until >= began + 0.2
        assert replaced_at >= busy_until + network_spares.QUIET - 0.001
    finally:
        await agent.client.close()
        await backend.close()


async def test_kernels_of_one_session_share_the_spare_its_first_one_took(
    short_dir: Path,
) -> None:
    """At once (two creates in flight), later, and after an agent restart."""
    backend = FakeBackend()
    agent = await start(short_dir, backend, network_spares=2)
    session_id = str(uuid.uuid4())
    try:
        await until_spares(agent, 2)
        together = await asyncio.gather(
            agent.create(session_id=session_id), agent.create(session_id=session_id)
        )
        network = network_of(backend, together[0]["container_id"]).name
        assert network_of(backend, together[1]["container_id"]).name == network
        assert network.startswith("bai-net-") and len(spares(agent)) == 1
        later = await agent.create(session_id=session_id)
        assert network_of(backend, later["container_id"]).name == network
        assert agent.registry.networks.held(network) == 3
    finally:
        await agent.client.close()  # the kernels keep running
    agent = await start(short_dir, backend)
    try:
        assert agent.registry.networks.held(network) == 3
        again = await agent.create(session_id=session_id)
        assert network_of(backend, again["container_id"]).name == network
        for created in (*together, later, again):
            await destroy(agent, created["kernel_id"])
        await until(lambda: network not in names(backend))
    finally:
        await agent.client.close()
        await backend.close()


async def test_spares_left_by_a_crash_go_and_another_agents_stay(short_dir: Path) -> None:
    backend = FakeBackend()
    # Left running, as by an agent that died: this agent's spare, and another agent's.
    crashed = SessionNetworks(make_settings(short_dir, network_spares=1), backend)
    other = SessionNetworks(make_settings(short_dir, id="other-agent", network_spares=1), backend)
    crashed.start()
    other.start()
    await until(lambda: len(crashed.spares.ready) == 1 and len(other.spares.ready) == 1)
    stale, foreign = crashed.spares.ready[0], other.spares.ready[0]
    await crashed.spares.stop()
    await other.spares.stop()
    agent = await start(short_dir, backend)
    try:
        [spare] = await until_spares(agent, 1)
        assert stale not in names(backend) and foreign in names(backend)
        assert spare not in (stale, foreign)
        # The sweep never takes a spare, though nothing is on it.
        assert await agent.registry.networks.sweep() == [] and spare in names(backend)
    finally:
        await agent.client.close()
        await backend.close()
    assert agent_networks(backend) == {foreign}


async def test_a_stop_while_a_spare_is_being_made_leaves_no_network(short_dir: Path) -> None:
    backend = FinishingBackend()
    agent = await start(short_dir, backend)
    await until(lambda: backend.pending == 1)  # the engine is making the spare
    await agent.client.close()
    await until(lambda: backend.pending == 0)
    assert backend.network_creates == 1 and backend.networks == {}
    await backend.close()


async def test_a_cancelled_create_removes_what_the_engine_made(short_dir: Path) -> None:
    """For every network (a kernel's, a pool member's, a spare): the engine finishes a create
    it was asked for even when the asker gives up, as when the agent stops."""
    backend = FinishingBackend()
    nets = SessionNetworks(make_settings(short_dir), backend)
    making = asyncio.create_task(nets.for_session(uuid.uuid4()))
    await until(lambda: backend.pending == 1)
    making.cancel()
    with pytest.raises(asyncio.CancelledError):
        await making
    await until(lambda: backend.pending == 0)
    assert backend.network_creates == 1 and backend.networks == {}


async def test_a_spare_that_cannot_be_made_is_tried_again_later(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(network_spares, "RETRY_DELAY", 0.05)
    backend = FlakyBackend(failures=2)
    agent = await start(short_dir, backend)
    try:
        [spare] = await until_spares(agent, 1)
        assert backend.failed == 2
        created = await agent.create()
        assert network_of(backend, created["container_id"]).name == spare
    finally:
        await agent.client.close()
        await backend.close()
