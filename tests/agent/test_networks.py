"""Sessions' own networks on the fake backend: subnet allocation (overlaps, races, many at
once, a full pool), sharing within a session, the warm pool's networks and claims, re-adoption
after an agent restart, and the removal of networks nothing uses."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from decimal import Decimal
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.backends.fake import FailingBackend, FakeBackend, SlowBackend
from backendai.agent.backends.protocol import ContainerSpec, NetworkSpec
from backendai.agent.errors import NetworkPoolExhausted
from backendai.agent.firewall import Firewall
from backendai.agent.layout import CLAIM_FILE, LABEL_NETWORK, LABEL_POOL
from backendai.agent.main import create_app
from backendai.agent.networks import SessionNetworks, free_subnet
from backendai.agent.server import CONTEXT_KEY
from backendai.common.agent_protocol import LABEL_AGENT_ID, LABEL_SESSION_ID
from tests.agent.conftest import HEADERS, IMAGE, Agent, create_body, make_settings
from tests.agent.test_pool import PoolAgent, start, until

N = IPv4Network
AGENT_ID = "test-agent"  # make_settings' agent id


def network_of(backend: FakeBackend, container_id: str) -> NetworkSpec:
    network = backend.network_of(container_id)
    assert network is not None, "the container is on no network"
    return network.spec


def names(backend: FakeBackend) -> set[str]:
    return {n.spec.name for n in backend.networks.values()}


def agent_networks(backend: FakeBackend) -> set[str]:
    return {n.spec.name for n in backend.networks.values() if n.spec.labels.get(LABEL_AGENT_ID)}


def networks(data_dir: Path, backend: FakeBackend, **settings: Any) -> SessionNetworks:
    return SessionNetworks(make_settings(data_dir, **settings), backend, rng=random.Random(7))


async def stopped_container(backend: FakeBackend, network: str, agent_id: str = AGENT_ID) -> str:
    spec = ContainerSpec(
        name=f"c-{uuid.uuid4()}", image=IMAGE, command=["true"], env={},
        labels={LABEL_AGENT_ID: agent_id}, user="1:1", workdir="/", mounts=[], cpu=Decimal(1),
        cpuset=[0], memory=None, shm_size=1, pids_limit=1, network=network,
    )  # fmt: skip
    return await backend.create(spec)


# --- choosing subnets ------------------------------------------------------------------------


def test_free_subnets_skip_whatever_overlaps() -> None:
    pool = N("10.0.0.0/24")
    assert free_subnet(pool, 28, []) == N("10.0.0.0/28")
    assert free_subnet(pool, 28, [], start=5) == N("10.0.0.80/28")
    # Taken networks of any size: a /26, one address, a network wider than the pool.
    assert free_subnet(pool, 28, [N("10.0.0.0/26")]) == N("10.0.0.64/28")
    assert free_subnet(pool, 28, [N("10.0.0.82/32")], start=5) == N("10.0.0.96/28")
    assert free_subnet(pool, 28, [N("10.0.0.0/8")]) is None
    # From the start onwards, then around from the beginning.
    taken = [N("10.0.0.0/25"), N("10.0.0.128/26"), N("10.0.0.192/28"), N("10.0.0.224/27")]
    assert free_subnet(pool, 28, taken, start=3) == N("10.0.0.208/28")
    assert free_subnet(pool, 28, [N("10.0.0.128/25")], start=12) == N("10.0.0.0/28")
    assert free_subnet(pool, 28, [*taken, N("10.0.0.208/28")]) is None
    assert free_subnet(pool, 24, [N("192.168.0.0/16")]) == pool  # unrelated networks


def test_every_subnet_of_a_pool_is_found_once() -> None:
    pool, taken, rng = N("10.1.0.0/22"), list[IPv4Network](), random.Random(3)
    for _ in range(64):
        subnet = free_subnet(pool, 28, taken, start=rng.randrange(64))
        assert subnet is not None and subnet.subnet_of(pool)
        assert not any(subnet.overlaps(t) for t in taken)
        taken.append(subnet)
    assert free_subnet(pool, 28, taken) is None


async def test_a_subnet_taken_meanwhile_by_another_agent_is_retried(short_dir: Path) -> None:
    backend = FakeBackend()
    backend.steal_subnets = 3  # three attempts in a row lose their subnet at the last moment
    nets = networks(short_dir, backend)
    name = await nets.for_session(uuid.uuid4())
    assert backend.network_creates == 4
    mine = next(n.spec for n in backend.networks.values() if n.spec.name == name)
    thieves = [N(n.spec.subnet) for n in backend.networks.values() if "thief" in n.spec.labels]
    assert len(thieves) == 3 and not any(N(mine.subnet).overlaps(t) for t in thieves)


async def test_many_concurrent_creates_get_subnets_that_never_overlap(short_dir: Path) -> None:
    backend = SlowBackend(delay=0.01)  # every create yields: all of them are in flight at once
    backend.steal_subnets = 5
    nets = networks(short_dir, backend, network_pool="10.77.0.0/22", network_prefix=28)
    made = await asyncio.gather(*(nets.for_session(uuid.uuid4()) for _ in range(40)))
    assert len(set(made)) == 40
    subnets = [N(n.spec.subnet) for n in backend.networks.values()]
    assert len(subnets) == 45  # ours and the thieves'
    for i, a in enumerate(subnets):
        assert a.subnet_of(N("10.77.0.0/22")) and a.prefixlen == 28
        assert not any(a.overlaps(b) for b in subnets[i + 1 :])
    assert all(nets.held(name) == 1 for name in made)


async def test_a_full_pool_is_a_clear_error_and_holds_nothing(short_dir: Path) -> None:
    backend = FakeBackend()
    nets = networks(short_dir, backend, network_pool="10.78.0.0/26", network_prefix=28)
    made = [await nets.for_session(uuid.uuid4()) for _ in range(4)]
    session = uuid.uuid4()
    with pytest.raises(NetworkPoolExhausted, match=r"10\.78\.0\.0/26"):
        await nets.for_session(session)
    assert len(backend.networks) == 4
    await nets.release(made[0])
    assert made[0] not in names(backend)
    name = await nets.for_session(session)  # room again
    assert nets.held(name) == 1 and len(backend.networks) == 4


async def test_outbound_access_off_gives_bridges_the_closed_prefix(short_dir: Path) -> None:
    backend = FakeBackend()
    open_net = await networks(short_dir, backend).for_session(uuid.uuid4())
    closed = await networks(short_dir, backend, outbound_access=False).for_session(uuid.uuid4())
    bridges = {n.spec.name: n.spec.bridge for n in backend.networks.values()}
    assert bridges[open_net].startswith("bai-") and len(bridges[open_net]) == 15
    assert bridges[closed].startswith("baic") and len(bridges[closed]) == 15


# --- kernels -----------------------------------------------------------------------------------


async def test_each_session_gets_its_own_network(agent: Agent) -> None:
    a, b = await agent.create(), await agent.create()
    backend, pool = agent.backend, agent.settings.network_pool
    net_a, net_b = network_of(backend, a["container_id"]), network_of(backend, b["container_id"])
    assert net_a.name != net_b.name and net_a.bridge != net_b.bridge
    assert not N(net_a.subnet).overlaps(N(net_b.subnet))
    for created, net in ((a, net_a), (b, net_b)):
        session_id = backend.containers[created["container_id"]].spec.labels[LABEL_SESSION_ID]
        assert net.labels == {
            LABEL_AGENT_ID: AGENT_ID,
            LABEL_NETWORK: "session",
            LABEL_SESSION_ID: session_id,
        }
        assert session_id in net.name
        assert N(net.subnet).subnet_of(pool) and N(net.subnet).prefixlen == 28
        assert net.gateway == str(N(net.subnet).network_address + 1)


async def test_kernels_of_one_session_share_its_network_until_the_last_goes(agent: Agent) -> None:
    session_id = str(uuid.uuid4())
    first = await agent.create(session_id=session_id)
    second = await agent.create(session_id=session_id)
    network = network_of(agent.backend, first["container_id"])
    assert network_of(agent.backend, second["container_id"]) == network
    resp = await agent.client.delete(f"/v1/kernels/{first['kernel_id']}", headers=HEADERS)
    assert resp.status == 200
    nets = agent.client.server.app[CONTEXT_KEY].registry.networks
    await nets.close()  # every removal begun has ended
    assert network.name in names(agent.backend) and nets.held(network.name) == 1
    resp = await agent.client.delete(f"/v1/kernels/{second['kernel_id']}", headers=HEADERS)
    assert resp.status == 200
    await until(lambda: not agent.backend.networks)


async def test_a_failed_create_leaves_no_network(short_dir: Path) -> None:
    backend = FailingBackend({"start"})
    async with TestClient(TestServer(create_app(make_settings(short_dir), backend))) as client:
        resp = await client.post("/v1/kernels", json=create_body(), headers=HEADERS)
        assert resp.status == 500
        await until(lambda: not backend.networks)
        assert backend.containers == {}
    await backend.close()


async def test_a_network_that_cannot_be_made_fails_the_create_cleanly(short_dir: Path) -> None:
    backend = FailingBackend({"create_network"})
    async with TestClient(TestServer(create_app(make_settings(short_dir), backend))) as client:
        resp = await client.post("/v1/kernels", json=create_body(), headers=HEADERS)
        assert resp.status == 500 and "container-backend-error" in await resp.text()
        registry = client.server.app[CONTEXT_KEY].registry
        assert registry.kernels == {} and registry.cores.assigned == {}
    assert backend.containers == {} and backend.networks == {}
    await backend.close()


async def test_a_full_network_pool_refuses_the_create_with_its_code(short_dir: Path) -> None:
    backend = FakeBackend()
    settings = make_settings(short_dir, network_pool="10.79.0.0/28", network_prefix=28)
    async with TestClient(TestServer(create_app(settings, backend))) as client:
        resp = await client.post("/v1/kernels", json=create_body(), headers=HEADERS)
        assert resp.status == 200
        resp = await client.post("/v1/kernels", json=create_body(), headers=HEADERS)
        assert resp.status == 500 and "network-pool-exhausted" in await resp.text()
    assert len(backend.containers) == 1
    await backend.close()


# --- the warm pool -----------------------------------------------------------------------------


async def test_members_come_with_a_network_that_a_claim_makes_the_sessions(
    short_dir: Path,
) -> None:
    backend = FakeBackend()
    agent = await start(short_dir, backend)
    try:
        [member] = await agent.until_idle(1)
        network = network_of(backend, member)
        assert network.labels == {LABEL_AGENT_ID: AGENT_ID, LABEL_NETWORK: "pool",
                                  LABEL_POOL: IMAGE}  # fmt: skip
        created = await agent.create()
        assert created["container_id"] == member
        # The claim made no network (only the refill's pool members have one of their own).
        assert {n.spec.labels[LABEL_NETWORK] for n in backend.networks.values()} == {"pool"}
        kernel = agent.registry.kernels[uuid.UUID(created["kernel_id"])]
        assert kernel.network == network.name
        claim = json.loads((short_dir / "kernels" / created["kernel_id"] / CLAIM_FILE).read_text())
        assert claim["network"] == network.name
        [refill] = await agent.until_idle(1)
        assert network_of(backend, refill).name != network.name
        resp = await agent.client.delete(f"/v1/kernels/{created['kernel_id']}", headers=HEADERS)
        assert resp.status == 200
        await until(lambda: network.name not in names(backend))
        refill_network = network_of(backend, refill).name
    finally:
        await agent.client.close()
    assert refill_network not in names(backend)  # the idle member's network goes at stop
    assert backend.networks == {}
    await backend.close()


async def test_a_failed_claim_removes_the_members_network(short_dir: Path) -> None:
    backend = FailingBackend({"update_limits"})
    agent = await start(short_dir, backend)
    try:
        [member] = await agent.until_idle(1)
        pool_network = network_of(backend, member).name
        created = await agent.create()  # falls back to a container of its own
        assert created["container_id"] != member
        assert network_of(backend, created["container_id"]).labels[LABEL_NETWORK] == "session"
        await until(lambda: pool_network not in names(backend))
    finally:
        await agent.client.close()
        await backend.close()


# --- restarts and leftovers --------------------------------------------------------------------


async def test_a_restart_readopts_kernels_with_their_networks_and_drops_the_rest(
    short_dir: Path,
) -> None:
    backend = FakeBackend()
    agent: PoolAgent = await start(short_dir, backend)
    await agent.until_idle(1)
    pooled = await agent.create()
    cold = await agent.create(preopen_ports=[8080])  # never claims
    kept = {k["kernel_id"]: network_of(backend, k["container_id"]).name for k in (pooled, cold)}
    assert len(set(kept.values())) == 2
    await agent.until_idle(1)
    await agent.client.close()  # the agent stops; its kernels do not
    # Left by a crash: a session network nothing is on, a pool member's network without its
    # container; and another agent's network, which is never ours to remove.
    nets = networks(short_dir, backend)
    orphan = await nets.for_session(uuid.uuid4())
    stale = await nets.for_pool_member(uuid.uuid4(), IMAGE)
    other = SessionNetworks(make_settings(short_dir, id="other-agent"), backend)
    foreign = await other.for_session(uuid.uuid4())
    agent = await start(short_dir, backend)
    try:
        assert orphan not in names(backend) and stale not in names(backend)
        assert foreign in names(backend)
        for kernel_id, network in kept.items():
            kernel = agent.registry.kernels[uuid.UUID(kernel_id)]
            assert kernel.network == network and agent.registry.networks.held(network) == 1
            assert network in names(backend)
        assert await agent.run(pooled["kernel_id"], "print('still here')") == "still here\n"
        for kernel_id in kept:
            resp = await agent.client.delete(f"/v1/kernels/{kernel_id}", headers=HEADERS)
            assert resp.status == 200
        await until(lambda: not set(kept.values()) & names(backend))
    finally:
        await agent.client.close()
        await backend.close()
    assert agent_networks(backend) == {foreign}


async def test_the_sweep_spares_networks_in_use(short_dir: Path) -> None:
    backend = FakeBackend()
    nets = networks(short_dir, backend)
    held = await nets.for_session(uuid.uuid4())
    # Nobody holds this one, but a stopped container of ours is on it (a kernel that died and
    # waits for the manager to destroy it): starting it again must find its network.
    used = await nets.for_session(uuid.uuid4())
    container = await stopped_container(backend, used)
    unused = await nets.for_session(uuid.uuid4())
    for name in (used, unused):
        nets._holders.pop(name)  # as after a crash: networks nobody holds
    assert await nets.sweep() == [unused]
    assert names(backend) == {held, used}
    await backend.destroy(container)
    assert await nets.sweep() == [used]
    assert names(backend) == {held}


async def test_maintenance_keeps_the_firewall_and_sweeps(short_dir: Path) -> None:
    class CountingFirewall(Firewall):
        calls = 0

        async def ensure(self) -> bool:
            self.calls += 1
            return self.calls == 2  # as if a firewall reload had dropped the rules once

    backend, firewall = FakeBackend(), CountingFirewall()
    nets = SessionNetworks(make_settings(short_dir), backend, firewall)
    orphan = await SessionNetworks(make_settings(short_dir), backend).for_session(uuid.uuid4())
    task = asyncio.create_task(nets.maintain(interval=0.01))
    try:
        await until(lambda: orphan not in names(backend) and firewall.calls >= 3)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_second_kernel_joins_the_network_its_session_claimed(short_dir: Path) -> None:
    """A claimed pool container's network is not named by session: the session's next kernel
    still finds it (as a multi-container session's would)."""
    backend = FakeBackend()
    agent = await start(short_dir, backend)
    try:
        [member] = await agent.until_idle(1)
        session_id = str(uuid.uuid4())
        first = await agent.create(session_id=session_id)
        assert first["container_id"] == member
        second = await agent.create(session_id=session_id, preopen_ports=[8080])  # cold
        network = network_of(backend, member)
        assert network_of(backend, second["container_id"]) == network
        assert agent.registry.networks.held(network.name) == 2
        [spare] = await agent.until_idle(1)
        # Only a session's first kernel claims: another's container is on its own network.
        third = await agent.create(session_id=session_id)
        assert third["container_id"] != spare and agent.idle() == [spare]
        assert network_of(backend, third["container_id"]) == network
        for created in (first, second, third):
            resp = await agent.client.delete(f"/v1/kernels/{created['kernel_id']}", headers=HEADERS)
            assert resp.status == 200
        await until(lambda: network.name not in names(backend))
    finally:
        await agent.client.close()
        await backend.close()
