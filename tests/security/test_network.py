"""Network isolation on the live platform: one user's session reaches neither another user's
session nor the platform, and does reach the outside world; a session's network and the rules
that name it go with the session.

Seen before: every session sat on Docker's default bridge, and code in Alice's session fetched
a page from an HTTP server in Bob's. The servers that stand for a platform listening on a
public address listen on host addresses the sessions could route to (their own gateway,
docker0's address); a session that fails to reach them is kept out by the firewall, since the
host itself reaches them.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import aiodocker
import pytest
from yarl import URL

from backendai.client.func.compute_session import ComputeSession
from backendai.common.agent_protocol import LABEL_AGENT_ID
from backendai.server.main import local_agent_id
from tests.agent.test_networks_docker import (
    TOOLS,
    docker0_address,
    eventually,
    listener,
    network_gone,
)
from tests.fixtures.live import LiveServer
from tests.security.conftest import Tenant

pytestmark = [pytest.mark.slow, pytest.mark.docker]
REFUSED = "ConnectionRefusedError"


async def run(session: ComputeSession, code: str) -> str:
    result = await session.execute(code, mode="query")
    console = [tuple(c) for c in result["console"]]
    errors = "".join(text for kind, text in console if kind == "stderr")
    assert result["exitCode"] == 0 and not errors, errors
    return "".join(text for kind, text in console if kind == "stdout").strip()


@contextlib.asynccontextmanager
async def session_of(tenant: Tenant, name: str) -> AsyncIterator[ComputeSession]:
    async with tenant.sdk() as api:
        session = await api.ComputeSession.get_or_create("python", name=name)
        try:
            await run(session, TOOLS)
            yield session
        finally:
            with contextlib.suppress(Exception):
                await session.destroy()


async def network_with_gateway(agent_id: str, gateway: str) -> dict[str, Any]:
    """The platform agent's network whose gateway (the host's address on it) is ``gateway``."""
    async with aiodocker.Docker() as docker:
        for item in await docker.networks.list(filters={"label": [f"{LABEL_AGENT_ID}={agent_id}"]}):
            for config in (item.get("IPAM") or {}).get("Config") or []:
                if config.get("Gateway") == gateway:
                    return dict(item)
    raise AssertionError(f"no network of agent {agent_id} has the gateway {gateway}")


def firewall_rules() -> list[str]:
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def bridge_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


async def test_sessions_of_two_users_are_apart_and_the_platform_out_of_reach(
    live_server: LiveServer, tenants: dict[str, Tenant]
) -> None:
    agent_id = local_agent_id(live_server.data_dir)
    platform_ports = [URL(live_server.endpoint).port, URL(live_server.webserver).port,
                      live_server.agent_port]  # fmt: skip
    async with (
        session_of(tenants["bob"], "net-bob-server") as bob,
        session_of(tenants["alice"], "net-alice-client") as alice,
    ):
        # Bob serves, and reaches his own server.
        assert await run(bob, "print(serve(8080))") == "open"
        bob_address = await run(bob, "print(my_address())")
        assert await run(bob, f"print(probe({bob_address!r}, 8080))") == "open"
        # Alice does not, by the container's address.
        assert await run(alice, f"print(probe({bob_address!r}, 8080))") == REFUSED
        # Nor the platform: its ports and servers on host addresses, through her gateway.
        gateway = await run(alice, "print(gateway())")
        for port in platform_ports:
            assert await run(alice, f"print(probe({gateway!r}, {port}))") == REFUSED, port
        for host in (gateway, docker0_address()):
            async with listener(host) as port:
                assert await run(alice, f"print(probe({host!r}, {port}))") == REFUSED, host
        # The outside world, by name: the Debian mirror the image's apt uses.
        assert IPv4Address(await run(alice, "print(resolve('deb.debian.org'))"))
        assert await run(alice, "print(fetch(mirror()))") == "200"
        # Each session on a network of its own, kept apart by the host's firewall.
        networks = [
            await network_with_gateway(agent_id, gateway),
            await network_with_gateway(agent_id, await run(bob, "print(gateway())")),
        ]
        assert networks[0]["Id"] != networks[1]["Id"]
        assert "-A INPUT -i bai+ -j BAI-SESSIONS-IN" in firewall_rules()
    # Both sessions ended: their networks, bridges and every rule naming them are gone.
    for network in networks:
        bridge = network["Options"]["com.docker.network.bridge.name"]
        subnet = str(IPv4Network(network["IPAM"]["Config"][0]["Subnet"]))
        await network_gone(network["Name"])

        async def gone(bridge: str = bridge, subnet: str = subnet) -> bool:
            rules = firewall_rules()
            return not bridge_exists(bridge) and not any(bridge in r or subnet in r for r in rules)

        await eventually(gone)  # Docker drops the bridge and its rules just after the network
