"""One contract for the network operations of every backend: the fake must answer as Docker
does (names unique, overlapping subnets and reused bridge names refused, a network in use kept,
removal idempotent, a container on a missing network failing to start with an engine error).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from ipaddress import IPv4Network

import pytest

from backendai.agent.backends.docker import DockerBackend
from backendai.agent.backends.fake import FakeBackend
from backendai.agent.backends.protocol import ContainerBackend, ContainerSpec, NetworkSpec
from backendai.agent.errors import BackendError, NetworkExists, SubnetTaken
from backendai.common.agent_protocol import LABEL_AGENT_ID
from tests.agent.conftest import IMAGE
from tests.agent.test_docker import remove_containers


@pytest.fixture(
    params=["fake", pytest.param("docker", marks=[pytest.mark.slow, pytest.mark.docker])]
)
async def engine(request: pytest.FixtureRequest) -> AsyncIterator[tuple[ContainerBackend, str]]:
    agent_id = f"test-{uuid.uuid4().hex[:12]}"
    backend: ContainerBackend = FakeBackend() if request.param == "fake" else DockerBackend()
    try:
        yield backend, agent_id
    finally:
        if request.param == "docker":
            await remove_containers(agent_id)
        await backend.close()


def spec(agent_id: str, subnet: IPv4Network, **overrides: str) -> NetworkSpec:
    values = {
        "name": f"bai-contract-{uuid.uuid4()}",
        "subnet": str(subnet),
        "gateway": str(subnet.network_address + 1),
        "bridge": f"bai-{uuid.uuid4().hex[:11]}",
    } | overrides
    return NetworkSpec(labels={LABEL_AGENT_ID: agent_id}, **values)


def container(agent_id: str, network: str) -> ContainerSpec:
    return ContainerSpec(
        name=f"bai-contract-{uuid.uuid4()}", image=IMAGE, command=["sleep", "60"], env={},
        labels={LABEL_AGENT_ID: agent_id}, user="65000:65000", workdir="/", mounts=[],
        cpu=Decimal(1), cpuset=[0], memory=None, shm_size=2**20, pids_limit=16, network=network,
    )  # fmt: skip


async def test_network_operations(engine: tuple[ContainerBackend, str]) -> None:
    backend, agent_id = engine
    # A /24 of the agents' default range that concurrent runs are unlikely to use at once.
    block = IPv4Network(f"10.213.{random.randrange(200, 256)}.0/24")
    first, second = list(block.subnets(new_prefix=28))[:2]
    made = spec(agent_id, first)
    network_id = await backend.create_network(made)
    [record] = await backend.list_networks({LABEL_AGENT_ID: agent_id})
    assert (record.id, record.name, record.subnets) == (network_id, made.name, [str(first)])
    assert record.labels[LABEL_AGENT_ID] == agent_id
    assert made.name in {n.name for n in await backend.list_networks({})}
    with pytest.raises(NetworkExists):
        await backend.create_network(spec(agent_id, second, name=made.name))
    with pytest.raises(SubnetTaken):  # overlapping, though smaller
        await backend.create_network(spec(agent_id, IPv4Network(f"{first.network_address}/29")))
    with pytest.raises(SubnetTaken):  # the bridge's name in use
        await backend.create_network(spec(agent_id, second, bridge=made.bridge))
    # A container on it gets an address of its subnet; the network is kept while it runs.
    container_id = await backend.create(container(agent_id, made.name))
    await backend.start(container_id)
    address = (await backend.inspect(container_id)).networks[made.name]
    assert address and IPv4Network(address).subnet_of(first)
    with pytest.raises(BackendError):
        await backend.remove_network(made.name)
    await backend.destroy(container_id)
    await backend.remove_network(made.name)
    await backend.remove_network(made.name)  # gone already: no error
    assert await backend.list_networks({LABEL_AGENT_ID: agent_id}) == []
    # A container on a network that is not there does not start: an engine error (neither a
    # missing image nor a missing container).
    container_id = await backend.create(container(agent_id, made.name))
    with pytest.raises(BackendError):
        await backend.start(container_id)
    await backend.destroy(container_id)
