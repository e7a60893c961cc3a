"""The host firewall rules, against a stand-in for iptables that keeps a rule table the way
``iptables -S`` and ``iptables-restore --noflush`` treat it; the agent refusing to start
without them; and what else depends on the engine being on this host."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from ipaddress import IPv4Network
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent import firewall as firewall_module
from backendai.agent import networks as networks_module
from backendai.agent.backends.docker import is_local
from backendai.agent.backends.fake import FakeBackend
from backendai.agent.errors import FirewallError
from backendai.agent.firewall import FORWARD_CHAIN, INPUT_CHAIN, IPV4, IPV6, Firewall, plan
from backendai.agent.main import create_app, start_firewall
from backendai.agent.networks import SessionNetworks
from backendai.common.errors import ConfigurationError
from tests.agent.conftest import make_settings

DOCKER_TABLE = """-P INPUT ACCEPT
-P FORWARD DROP
-P OUTPUT ACCEPT
-N DOCKER
-N DOCKER-USER
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -j DOCKER
-A DOCKER-USER -j RETURN
"""


@dataclass
class Table:
    lines: list[str]

    def apply(self, script: str) -> None:
        body = script.splitlines()
        assert body[0] == "*filter" and body[-1] == "COMMIT", script
        for line in body[1:-1]:
            if line.startswith(":"):  # declare, or empty an existing chain
                chain = line[1:].split()[0]
                self.lines = [x for x in self.lines if not x.startswith(f"-A {chain} ")]
                if f"-N {chain}" not in self.lines:
                    self.lines.append(f"-N {chain}")
            elif line.startswith("-A "):
                self.lines.append(line)
            elif line.startswith("-I "):
                _, chain, position, rule = line.split(" ", 3)
                assert position == "1"
                first = next(
                    (i for i, x in enumerate(self.lines) if x.startswith(f"-A {chain} ")),
                    len(self.lines),
                )
                self.lines.insert(first, f"-A {chain} {rule}")
            else:
                raise AssertionError(f"unexpected line {line!r}")


@dataclass
class FakeIptables:
    tables: dict[str, Table] = field(
        default_factory=lambda: {
            "iptables": Table(DOCKER_TABLE.splitlines()),
            "ip6tables": Table(["-P INPUT ACCEPT", "-P FORWARD ACCEPT"]),
        }
    )
    calls: list[list[str]] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)  # binaries that fail

    async def __call__(self, argv: list[str], stdin: bytes | None) -> tuple[int, str]:
        self.calls.append(argv)
        binary = argv[0].removesuffix("-restore")
        if binary in self.broken:
            return 4, f"{binary}: Permission denied (you must be root)"
        table = self.tables[binary]
        if argv[0].endswith("-restore"):
            assert argv[1:] == ["-w", "--noflush"] and stdin is not None
            table.apply(stdin.decode())
            return 0, ""
        assert argv[1:] == ["-w", "-t", "filter", "-S"]
        return 0, "\n".join(table.lines) + "\n"

    def restores(self) -> int:
        return sum(1 for argv in self.calls if argv[0].endswith("-restore"))


def firewall(tmp_path: Path, iptables: FakeIptables) -> Firewall:
    return Firewall(run=iptables, lock_path=tmp_path / "fw.lock")


async def test_the_rules_are_installed_once(tmp_path: Path) -> None:
    iptables = FakeIptables()
    fw = firewall(tmp_path, iptables)
    assert await fw.ensure() is True
    v4 = iptables.tables["iptables"].lines
    # The jumps come first in their chains, the session rules in order.
    assert v4.index("-A INPUT -i bai+ -j BAI-SESSIONS-IN") == next(
        i for i, x in enumerate(v4) if x.startswith("-A INPUT ")
    )
    user = [x for x in v4 if x.startswith("-A DOCKER-USER ")]
    assert user[-1] == "-A DOCKER-USER -j RETURN" and len(user) == 3
    assert {"-A DOCKER-USER -i bai+ -j BAI-SESSIONS-FWD",
            "-A DOCKER-USER -o bai+ -j BAI-SESSIONS-FWD"} <= set(user)  # fmt: skip
    for chain, rules in IPV4.chains.items():
        assert [x for x in v4 if x.startswith(f"-A {chain} ")] == [f"-A {chain} {r}" for r in rules]
    fwd = IPV4.chains[FORWARD_CHAIN]
    assert fwd[:2] == [
        "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
        "-m physdev --physdev-is-bridged -j RETURN",  # one session's own bridge
    ]
    assert "-i bai+ -o bai+ -j REJECT --reject-with icmp-port-unreachable" in fwd
    assert "-i baic+ -j REJECT --reject-with icmp-port-unreachable" in fwd
    assert IPV4.chains[INPUT_CHAIN][-1] == "-j REJECT --reject-with icmp-port-unreachable"
    # No DOCKER-USER for IPv6 here: the jumps go to FORWARD.
    v6 = iptables.tables["ip6tables"].lines
    assert "-A FORWARD -i bai+ -j BAI-SESSIONS-FWD" in v6
    assert "-A INPUT -i bai+ -j BAI-SESSIONS-IN" in v6
    assert iptables.restores() == 2
    # Again: nothing to do, nothing changed.
    snapshot = [list(t.lines) for t in iptables.tables.values()]
    assert await fw.ensure() is False
    assert iptables.restores() == 2
    assert [t.lines for t in iptables.tables.values()] == snapshot


async def test_what_went_missing_or_changed_is_put_back(tmp_path: Path) -> None:
    iptables = FakeIptables()
    fw = firewall(tmp_path, iptables)
    await fw.ensure()
    v4 = iptables.tables["iptables"]
    installed = list(v4.lines)
    # A jump removed, and a session chain edited by hand.
    v4.lines.remove("-A INPUT -i bai+ -j BAI-SESSIONS-IN")
    v4.lines.remove("-A BAI-SESSIONS-FWD -i bai+ -o bai+ -j REJECT --reject-with "
                    "icmp-port-unreachable")  # fmt: skip
    v4.lines.append("-A BAI-SESSIONS-FWD -j ACCEPT")
    assert await fw.ensure() is True
    assert sorted(v4.lines) == sorted(installed)
    script = plan(IPV4, "\n".join(installed))
    assert script is None


def test_a_plan_for_an_empty_table_declares_the_chains_and_inserts_the_jumps() -> None:
    script = plan(IPV4, DOCKER_TABLE)
    assert script is not None
    lines = script.splitlines()
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"
    assert f":{INPUT_CHAIN} - [0:0]" in lines and f":{FORWARD_CHAIN} - [0:0]" in lines
    assert "-I DOCKER-USER 1 -i bai+ -j BAI-SESSIONS-FWD" in lines
    assert "-I INPUT 1 -i bai+ -j BAI-SESSIONS-IN" in lines
    assert plan(IPV6, "-P INPUT ACCEPT") is not None


async def test_iptables_that_fails_is_an_error_for_ipv4_only(tmp_path: Path) -> None:
    iptables = FakeIptables(broken={"ip6tables"})
    assert await firewall(tmp_path, iptables).ensure() is True  # IPv6: logged only
    iptables = FakeIptables(broken={"iptables"})
    with pytest.raises(FirewallError, match="firewall = false"):
        await firewall(tmp_path, iptables).ensure()


class HostBackend(FakeBackend):
    bridges_on_host = True  # as the Docker backend on the local socket


async def test_an_agent_without_its_firewall_does_not_start(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    iptables = FakeIptables(broken={"iptables"})
    monkeypatch.setattr(firewall_module, "run_command", iptables)
    backend = HostBackend()
    with pytest.raises(ConfigurationError, match="cannot be read"):
        async with TestClient(TestServer(create_app(make_settings(short_dir), backend))):
            pass
    assert backend.containers == {} and backend.networks == {}
    # Where another firewall does the work, or the engine is elsewhere, none is needed.
    assert await start_firewall(make_settings(short_dir, firewall=False), backend) is None
    assert await start_firewall(make_settings(short_dir), FakeBackend()) is None
    iptables.broken.clear()
    assert isinstance(await start_firewall(make_settings(short_dir), backend), Firewall)
    await backend.close()


def test_only_an_engine_on_this_host_has_its_bridges_here() -> None:
    assert is_local("unix:///var/run/docker.sock")
    assert is_local("tcp://127.0.0.1:2375") and is_local("tcp://localhost:2375")
    assert not is_local("tcp://10.1.2.3:2376") and not is_local("ssh://builder@example.com")


async def test_subnets_routed_by_the_host_are_never_chosen(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(networks_module, "host_routes", lambda: [IPv4Network("10.90.0.0/25")])
    settings = make_settings(short_dir, network_pool="10.90.0.0/24", network_prefix=26)
    host, elsewhere = HostBackend(), FakeBackend()
    for _ in range(2):
        await SessionNetworks(settings, host).for_session(uuid.uuid4())
    subnets = {n.spec.subnet for n in host.networks.values()}
    assert subnets == {"10.90.0.128/26", "10.90.0.192/26"}
    # A remote engine's subnets are not this host's business.
    for _ in range(4):
        await SessionNetworks(settings, elsewhere).for_session(uuid.uuid4())
    assert len(elsewhere.networks) == 4
