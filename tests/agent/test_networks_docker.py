"""Sessions' networks on the real Docker Engine, tried from inside the sessions: a session
reaches the outside world and its own members, and neither another session nor any address
of the host; with outbound access off, only its own members. Networks go with their sessions,
survive an agent restart with their kernels, and leftovers are removed. A spare network made
ahead becomes a session's own, and a stop leaves none behind, not even one being made.

Servers that stand for the platform listen on the sessions' own gateway addresses and on
docker0's: host addresses a platform listening on 0.0.0.0 would answer on.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import aiodocker
import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.backends.docker import DockerBackend
from backendai.agent.backends.docker_wire import BRIDGE_NAME_OPTION
from backendai.agent.backends.protocol import ContainerSpec
from backendai.agent.layout import LABEL_NETWORK
from backendai.agent.main import create_app
from backendai.agent.networks import SessionNetworks, host_routes
from backendai.agent.server import CONTEXT_KEY
from backendai.agent.settings import AgentSettings
from backendai.common.agent_protocol import LABEL_AGENT_ID
from tests.agent.conftest import HEADERS, IMAGE, make_settings
from tests.agent.test_docker import DockerAgent, remove_containers
from tests.agent.test_pool import until

pytestmark = [pytest.mark.slow, pytest.mark.docker]

# Defined once in each kernel's interpreter (query mode keeps it).
TOOLS = """
import socket, subprocess, sys, time, urllib.request

def probe(host, port, timeout=5):
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        return 'open'
    except OSError as e:
        return type(e).__name__
    finally:
        s.close()

def my_address():
    return socket.gethostbyname(socket.gethostname())

def gateway():
    for line in open('/proc/net/route').read().splitlines()[1:]:
        fields = line.split()
        if fields[1] == '00000000':
            return socket.inet_ntoa(bytes.fromhex(fields[2])[::-1])

def wait_open(host, port):
    deadline = time.monotonic() + 30
    while (result := probe(host, port, 1)) != 'open' and time.monotonic() < deadline:
        time.sleep(0.05)
    return result

def serve(port):
    subprocess.Popen([sys.executable, '-m', 'http.server', str(port)],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return wait_open(my_address(), port)

def mirror():
    # The Debian mirror the image's apt is configured with.
    for line in open('/etc/apt/sources.list'):
        parts = line.split()
        if parts[:1] == ['deb'] and parts[1].startswith('http://'):
            return f'{parts[1].rstrip("/")}/dists/{parts[2]}/Release'

def fetch(url):
    try:
        return urllib.request.urlopen(url, timeout=15).status
    except Exception as e:
        return type(e).__name__

def resolve(name):
    try:
        return socket.getaddrinfo(name, 80)[0][4][0]
    except OSError as e:
        return type(e).__name__
"""


class Session:
    """A kernel of its own session, and a way to run code in it."""

    def __init__(self, agent: DockerAgent, created: dict[str, Any]) -> None:
        self.agent, self.kernel_id = agent, created["kernel_id"]
        self.container_id = created["container_id"]
        self.host_ports = {p["name"]: p["host_ports"] for p in created["service_ports"]}

    async def eval(self, expression: str) -> str:
        out = await self.agent.stdout(self.kernel_id, f"print({expression})")
        return out.strip()

    @classmethod
    async def start(cls, agent: DockerAgent, **overrides: Any) -> Session:
        session = cls(agent, await agent.create(**overrides))
        await agent.stdout(session.kernel_id, TOOLS)
        return session


@pytest.fixture
async def settings(short_dir: Path) -> AsyncIterator[AgentSettings]:
    agent_id = f"test-{uuid.uuid4().hex[:12]}"
    try:
        yield make_settings(short_dir, id=agent_id, backend="docker", cpu=None, mem=None)
    finally:
        await remove_containers(agent_id)


@contextlib.asynccontextmanager
async def docker_agent(settings: AgentSettings) -> AsyncIterator[DockerAgent]:
    async with TestClient(TestServer(create_app(settings))) as client:
        yield DockerAgent(client, settings)


@contextlib.asynccontextmanager
async def listener(host: str) -> AsyncIterator[int]:
    """A TCP server on a host address (what a platform on 0.0.0.0 would answer on); its port.
    The host itself reaches it: a session that does not is kept out by the firewall."""

    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, host=host, port=0)
    port = int(server.sockets[0].getsockname()[1])
    try:
        _, writer = await asyncio.open_connection(host, port)
        writer.close()
        yield port
    finally:
        server.close()
        await server.wait_closed()


async def network_of(container_id: str) -> dict[str, Any]:
    async with aiodocker.Docker() as docker:
        data = await docker.containers.container(container_id).show()
        [name] = data["NetworkSettings"]["Networks"]
        network: dict[str, Any] = await docker._query_json(f"networks/{name}")
    return network


def docker0_address() -> str:
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "dev", "docker0"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return shown.split(" inet ")[1].split("/")[0]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 30) -> None:
    """Until ``check()`` holds (polled: these are the engine's and the kernel's states)."""
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


async def network_gone(name: str) -> None:
    """Until the engine has removed the network."""

    async def gone() -> bool:
        async with aiodocker.Docker() as docker:
            return all(n["Name"] != name for n in await docker.networks.list())

    await eventually(gone)


def interface_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def firewall_mentions(*words: str) -> list[str]:
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return [line for line in rules.splitlines() if any(w in line for w in words)]


async def test_a_session_reaches_the_world_and_nothing_of_others_or_the_host(
    settings: AgentSettings,
) -> None:
    async with docker_agent(settings) as agent:
        bob = await Session.start(agent, preopen_ports=[8080])
        alice = await Session.start(agent)
        assert await bob.eval("serve(8080)") == "open"
        # Nothing of it is published on the host: apps are reached through the agent's tunnel.
        assert bob.host_ports["preopen-8080"] == []
        async with aiodocker.Docker() as docker:
            shown = await (await docker.containers.get(bob.container_id)).show()
        assert not shown["HostConfig"]["PortBindings"] and not shown["NetworkSettings"]["Ports"]
        bob_address = await bob.eval("my_address()")
        assert await bob.eval(f"probe({bob_address!r}, 8080)") == "open"  # it does listen
        # Another session's server, by the container's own address.
        assert await alice.eval(f"probe({bob_address!r}, 8080)") == "ConnectionRefusedError"
        # The host, through the session's gateway and through docker0, on ports that answer
        # the host itself; and the agent's own API port.
        gateway = await alice.eval("gateway()")
        for host in (gateway, docker0_address()):
            async with listener(host) as port:
                assert await alice.eval(f"probe({host!r}, {port})") == "ConnectionRefusedError"
        agent_port = agent.client.server.port
        assert await alice.eval(f"probe({gateway!r}, {agent_port})") == "ConnectionRefusedError"
        # The world, by name.
        assert (await alice.eval("resolve('deb.debian.org')"))[0].isdigit()
        assert await alice.eval("fetch(mirror())") == "200"
        # The network: the session's own, from the agent's pool, labelled as the agent's.
        network = await network_of(alice.container_id)
        subnet = IPv4Network(network["IPAM"]["Config"][0]["Subnet"])
        bridge = network["Options"][BRIDGE_NAME_OPTION]
        assert subnet.subnet_of(settings.network_pool) and subnet.prefixlen == 28
        assert network["Labels"][LABEL_AGENT_ID] == settings.id
        assert network["Labels"][LABEL_NETWORK] == "session"
        assert bridge.startswith("bai-") and interface_exists(bridge)
        assert firewall_mentions(bridge)  # Docker's own rules for it
        resp = await agent.client.delete(f"/v1/kernels/{alice.kernel_id}", headers=HEADERS)
        assert resp.status == 200
        # Gone with the session: the network, its bridge, every rule that named either.
        await network_gone(network["Name"])
        # Docker answers the removal before it has dropped the bridge and its rules.
        await until(lambda: not interface_exists(bridge), within=30)
        await until(lambda: firewall_mentions(bridge, str(subnet)) == [], within=30)
        async with aiodocker.Docker() as docker:
            left = await docker.networks.list(
                filters={"label": [f"{LABEL_AGENT_ID}={settings.id}"]}
            )
        assert [n["Name"] for n in left] == [(await network_of(bob.container_id))["Name"]]


async def test_without_outbound_access_a_session_reaches_only_its_members(
    settings: AgentSettings,
) -> None:
    settings = settings.model_copy(update={"outbound_access": False})
    async with docker_agent(settings) as agent:
        other = await Session.start(agent)
        assert await other.eval("serve(8080)") == "open"
        other_address = await other.eval("my_address()")
        session = await Session.start(agent)
        kernel = agent.client.server.app[CONTEXT_KEY].registry.kernels[uuid.UUID(session.kernel_id)]
        # A second member of the session, as a multi-container session would have.
        backend = DockerBackend()
        try:
            member = await backend.create(
                ContainerSpec(
                    name=f"bai-member-{uuid.uuid4()}", image=IMAGE,
                    command=["python3", "-m", "http.server", "8000"], env={},
                    labels={LABEL_AGENT_ID: settings.id}, user=f"{settings.uid}:{settings.gid}",
                    workdir="/tmp", mounts=[], cpu=Decimal(1), cpuset=[0],
                    memory=None, shm_size=2**20, pids_limit=64, network=kernel.network,
                )
            )  # fmt: skip
            await backend.start(member)
            address = (await backend.inspect(member)).networks[kernel.network or ""]
        finally:
            await backend.close()
        assert await session.eval(f"wait_open({address!r}, 8000)") == "open"
        assert await session.eval(f"probe({other_address!r}, 8080)") == "ConnectionRefusedError"
        gateway = await session.eval("gateway()")
        async with listener(gateway) as port:
            assert await session.eval(f"probe({gateway!r}, {port})") == "ConnectionRefusedError"
        mirror_ip = await asyncio.get_running_loop().getaddrinfo("deb.debian.org", 80)
        assert await session.eval(f"probe({mirror_ip[0][4][0]!r}, 80)") == "ConnectionRefusedError"
        assert not (await session.eval("resolve('deb.debian.org')"))[0].isdigit()
        bridge = (await network_of(session.container_id))["Options"][BRIDGE_NAME_OPTION]
        assert bridge.startswith("baic")


async def test_kernels_keep_their_networks_across_a_restart_and_leftovers_go(
    settings: AgentSettings,
) -> None:
    settings = settings.model_copy(update={"pool_size": 1, "pool_images": [IMAGE]})
    async with docker_agent(settings) as agent:
        pool = agent.client.server.app[CONTEXT_KEY].registry.pool
        await until(lambda: bool(pool.idle.get(IMAGE)), within=60)
        pooled = await Session.start(agent)  # claims the prepared container and its network
        cold = await Session.start(agent, preopen_ports=[8080])  # a container of its own
        assert await pooled.eval("serve(8081)") == "open"
    networks = {s.kernel_id: (await network_of(s.container_id))["Name"] for s in (pooled, cold)}
    assert len(set(networks.values())) == 2
    # Left by a crash: a network of this agent that no container is on.
    async with aiodocker.Docker() as docker:
        orphan = await docker.networks.create({
            "Name": f"bai-orphan-{uuid.uuid4()}", "CheckDuplicate": True,
            "Labels": {LABEL_AGENT_ID: settings.id, LABEL_NETWORK: "session"},
        })  # fmt: skip
    async with docker_agent(settings) as agent:
        registry = agent.client.server.app[CONTEXT_KEY].registry
        for kernel_id, name in networks.items():
            assert registry.kernels[uuid.UUID(kernel_id)].network == name
        async with aiodocker.Docker() as docker:
            names = {n["Name"] for n in await docker.networks.list()}
            assert set(networks.values()) <= names
            with pytest.raises(aiodocker.DockerError):
                await docker._query_json(f"networks/{orphan.id}")
        # Still their own networks, still apart.
        pooled.agent = cold.agent = agent
        pooled_address = await pooled.eval("my_address()")
        assert await pooled.eval(f"probe({pooled_address!r}, 8081)") == "open"
        assert await cold.eval(f"probe({pooled_address!r}, 8081)") == "ConnectionRefusedError"


async def test_two_agents_filling_one_pool_at_once_share_it_out(short_dir: Path) -> None:
    """Two agents on one engine, creating at the same moment from the same small pool: every
    create ends with a subnet of its own, the losers of a race retrying with another."""
    ids = [f"test-{uuid.uuid4().hex[:12]}" for _ in range(2)]
    backend = DockerBackend()
    try:
        pool = await unused_block(backend)  # 8 subnets of /29
        agents = [
            SessionNetworks(
                make_settings(short_dir, id=agent_id, network_pool=pool, network_prefix=29),
                backend,
            )
            for agent_id in ids
        ]
        made = await asyncio.gather(
            *(agent.for_session(uuid.uuid4()) for agent in agents for _ in range(4))
        )
        records = [n for n in await backend.list_networks({}) if n.name in made]
        subnets = sorted(IPv4Network(r.subnets[0]) for r in records)
        assert len(subnets) == 8
        assert subnets == list(IPv4Network(pool).subnets(new_prefix=29))
    finally:
        for agent_id in ids:
            await remove_containers(agent_id)
        await backend.close()


async def unused_block(backend: DockerBackend) -> str:
    """A /26 that no network on the engine overlaps. Outside the default pool (10.213.0.0/16)
    on purpose: the agents of other tests pick their subnets from it at random, and one left
    inside the block made the test fail with the pool exhausted."""
    taken = [IPv4Network(s, strict=False) for n in await backend.list_networks({})
             for s in n.subnets] + host_routes()  # fmt: skip
    for _ in range(100):
        block = IPv4Network(f"10.212.{random.randrange(256)}.{random.randrange(4) * 64}/26")
        if not any(block.overlaps(t) for t in taken):
            return str(block)
    raise AssertionError("no unused /26 in 10.212.0.0/16")


async def our_networks(agent_id: str) -> set[str]:
    async with aiodocker.Docker() as docker:
        found = await docker.networks.list(filters={"label": [f"{LABEL_AGENT_ID}={agent_id}"]})
    return {n["Name"] for n in found}


async def test_a_cold_start_takes_a_spare_network_as_its_own(settings: AgentSettings) -> None:
    """A spare made ahead becomes the session's network: apart from other sessions, the
    world reachable by name, gone with the session; a replacement is made, and the spares
    go when the agent stops."""
    settings = settings.model_copy(update={"network_spares": 1})
    async with docker_agent(settings) as agent:
        spares = agent.client.server.app[CONTEXT_KEY].registry.networks.spares
        await until(lambda: len(spares.ready) == 1, within=30)
        [spare] = spares.ready
        alice = await Session.start(agent)
        network = await network_of(alice.container_id)
        assert network["Name"] == spare and spare.startswith("bai-net-")
        assert network["Labels"] == {LABEL_AGENT_ID: settings.id, LABEL_NETWORK: "session"}
        assert network["Options"][BRIDGE_NAME_OPTION].startswith("bai-")
        await until(lambda: len(spares.ready) == 1 and spares.ready[0] != spare, within=30)
        replacement = spares.ready[0]
        bob = await Session.start(agent, preopen_ports=[8080])
        assert (await network_of(bob.container_id))["Name"] == replacement
        assert await bob.eval("serve(8080)") == "open"
        bob_address = await bob.eval("my_address()")
        assert await alice.eval(f"probe({bob_address!r}, 8080)") == "ConnectionRefusedError"
        gateway = await alice.eval("gateway()")
        async with listener(gateway) as port:
            assert await alice.eval(f"probe({gateway!r}, {port})") == "ConnectionRefusedError"
        assert (await alice.eval("resolve('deb.debian.org')"))[0].isdigit()
        resp = await agent.client.delete(f"/v1/kernels/{alice.kernel_id}", headers=HEADERS)
        assert resp.status == 200
        await network_gone(spare)
        await until(lambda: len(spares.ready) == 1, within=30)
        left = spares.ready[0]
    # The agent stopped: its spare went; Bob's session (and network) outlives it.
    assert await our_networks(settings.id) == {(await network_of(bob.container_id))["Name"]}
    assert left not in await our_networks(settings.id)


async def test_a_stop_while_a_spare_is_being_made_leaves_no_network(
    settings: AgentSettings,
) -> None:
    """Docker finishes a network create whose client has gone (and a removal asked for in the
    meantime answers 404): the agent waits for the create it gave up on, then removes what it
    made."""
    settings = settings.model_copy(update={"network_spares": 2})
    async with docker_agent(settings) as agent:
        networks = agent.client.server.app[CONTEXT_KEY].registry.networks
        await until(lambda: bool(networks._in_flight), within=30)  # asking the engine now
        await networks.close()  # what the agent's stop does, at once
        assert await our_networks(settings.id) == set()
        # A create given up on without waiting would show its network only now.
        await asyncio.sleep(1.0)
        assert await our_networks(settings.id) == set()
