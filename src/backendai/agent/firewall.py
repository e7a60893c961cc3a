"""The host firewall rules that keep every session to itself.

Each session's containers sit on a bridge of their own (``networks.py``) whose host interface
is named ``bai-`` + 11 hex digits, or ``baic`` + 11 when the agent turns outbound access off.
Docker already drops traffic between two of its bridges; these rules do not rely on that, and
add what Docker does not do at all: keep sessions from the host itself. They match interface
*prefixes*, so they are installed once per host and never per session:

filter table, IPv4 (``iptables -S`` shows them so)::

    -A INPUT -i bai+ -j BAI-SESSIONS-IN              (first rule of INPUT)
    -A DOCKER-USER -i bai+ -j BAI-SESSIONS-FWD       (first rules of DOCKER-USER, or FORWARD
    -A DOCKER-USER -o bai+ -j BAI-SESSIONS-FWD        where Docker made no DOCKER-USER)

    BAI-SESSIONS-IN    a session reaches no address of the host, on any port (the platform's
                       manager, webserver and agent API included, whatever they listen on);
                       only answers to connections the host opened (published app ports) pass
    BAI-SESSIONS-FWD   answers pass; traffic within one bridge (one session) passes; closed
                       bridges reach nothing else; no session reaches another session's bridge,
                       docker0 or another Docker network, nor is reached from them; the rest
                       (the outside world, as the host reaches it) is left to Docker's rules

IPv6 (Docker gives these networks no IPv6 and turns it off in their containers; this is a
second lock): everything from or to a session bridge is rejected, except within the bridge.

Why wildcard rules set once instead of rules per network: they cost nothing on the start path,
there is nothing to leak when an agent dies between removing a network and its rules, and
several agents (several test platforms on one engine) install the very same rules, so none of
them ever has to remove what another still needs. Rules that match no interface do nothing.
A session's own rules are Docker's, and go with its network.

Every change is one ``iptables-restore --noflush`` transaction, made only when ``iptables -S``
shows something missing or different, under a host-wide lock file so that two agents never
insert the same jump twice. Commands run as subprocesses: the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from backendai.agent.errors import FirewallError

log = logging.getLogger(__name__)

BRIDGE_PREFIX = "bai"  # every session bridge
OPEN_PREFIX = "bai-"  # a session with outbound access
CLOSED_PREFIX = "baic"  # a session without (the agent's outbound_access = false)
INPUT_CHAIN = "BAI-SESSIONS-IN"
FORWARD_CHAIN = "BAI-SESSIONS-FWD"
DOCKER_USER = "DOCKER-USER"

# (return code, stdout and stderr); 127 when the program is missing.
Runner = Callable[[list[str], bytes | None], Awaitable[tuple[int, str]]]


async def run_command(argv: list[str], stdin: bytes | None = None) -> tuple[int, str]:
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except FileNotFoundError:
        return 127, f"{argv[0]}: not found"
    out, _ = await process.communicate(stdin)
    return int(process.returncode or 0), out.decode(errors="replace")


@dataclass(frozen=True)
class Family:
    """The rules of one address family, each as ``iptables -S`` prints it."""

    name: str
    binary: str  # iptables / ip6tables
    chains: dict[str, list[str]]  # our chain -> its rules, without "-A CHAIN"

    def jumps(self, forward_parent: str) -> list[tuple[str, str]]:
        return [
            ("INPUT", f"-i {BRIDGE_PREFIX}+ -j {INPUT_CHAIN}"),
            (forward_parent, f"-i {BRIDGE_PREFIX}+ -j {FORWARD_CHAIN}"),
            (forward_parent, f"-o {BRIDGE_PREFIX}+ -j {FORWARD_CHAIN}"),
        ]


def _family(name: str, binary: str, reject: str, forward_rules: list[str]) -> Family:
    answers = "-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
    return Family(
        name=name,
        binary=binary,
        chains={
            INPUT_CHAIN: [answers, f"-j {reject}"],
            FORWARD_CHAIN: [
                answers,
                "-m physdev --physdev-is-bridged -j RETURN",  # within one session's bridge
                *forward_rules,
            ],
        },
    )


_REJECT4 = "REJECT --reject-with icmp-port-unreachable"
_REJECT6 = "REJECT --reject-with icmp6-port-unreachable"
IPV4 = _family(
    "IPv4",
    "iptables",
    _REJECT4,
    [
        f"-i {CLOSED_PREFIX}+ -j {_REJECT4}",  # outbound access off
        f"-i {BRIDGE_PREFIX}+ -o {BRIDGE_PREFIX}+ -j {_REJECT4}",  # another session
        f"-i {BRIDGE_PREFIX}+ -o docker0 -j {_REJECT4}",  # other Docker networks
        f"-i {BRIDGE_PREFIX}+ -o br-+ -j {_REJECT4}",
        f"-i docker0 -o {BRIDGE_PREFIX}+ -j {_REJECT4}",
        f"-i br-+ -o {BRIDGE_PREFIX}+ -j {_REJECT4}",
    ],
)
IPV6 = _family("IPv6", "ip6tables", _REJECT6, [f"-j {_REJECT6}"])


def plan(family: Family, listing: str) -> str | None:
    """The ``iptables-restore --noflush`` input that brings the filter table from ``listing``
    (``iptables -S``) to our rules; None when they are all in place."""
    lines = listing.splitlines()
    present = set(lines)
    forward_parent = DOCKER_USER if f"-N {DOCKER_USER}" in present else "FORWARD"
    script = []
    for chain, rules in family.chains.items():
        have = [line for line in lines if line.startswith(f"-A {chain} ")]
        want = [f"-A {chain} {rule}" for rule in rules]
        if f"-N {chain}" not in present or have != want:
            # Declaring a chain in a --noflush restore empties it: the new content replaces
            # the old in one transaction, without a moment with no rules.
            script += [f":{chain} - [0:0]", *want]
    for parent, rule in family.jumps(forward_parent):
        if f"-A {parent} {rule}" not in present:
            script.append(f"-I {parent} 1 {rule}")
    if not script:
        return None
    return "\n".join(["*filter", *script, "COMMIT", ""])


def _lock_path() -> Path:
    run_lock = Path("/run/lock")
    return (run_lock if run_lock.is_dir() else Path(tempfile.gettempdir())) / "backendai-fw.lock"


class Firewall:
    def __init__(self, *, run: Runner | None = None, lock_path: Path | None = None) -> None:
        self._run = run or run_command
        self._lock_path = lock_path or _lock_path()
        self._lock = asyncio.Lock()

    async def ensure(self) -> bool:
        """Install what is missing (idempotent); whether anything was. FirewallError when the
        IPv4 rules cannot be read or installed; IPv6 trouble is only logged (the sessions'
        networks have no IPv6 at all)."""
        async with self._lock, self._host_lock():
            changed = await self._ensure(IPV4)
            try:
                changed = await self._ensure(IPV6) or changed
            except FirewallError as e:
                log.warning("%s", e)
        return changed

    async def _ensure(self, family: Family) -> bool:
        code, listing = await self._run([family.binary, "-w", "-t", "filter", "-S"], None)
        if code != 0:
            raise FirewallError(
                f"The {family.name} firewall rules that isolate sessions cannot be read "
                f"({family.binary}: {listing.strip()[:300]}). The agent needs root and "
                f"{family.binary}; or set [agent] firewall = false where another firewall "
                "keeps sessions from the host."
            )
        script = plan(family, listing)
        if script is None:
            return False
        code, out = await self._run(
            [f"{family.binary}-restore", "-w", "--noflush"], script.encode()
        )
        if code != 0:
            raise FirewallError(
                f"The {family.name} firewall rules that isolate sessions could not be "
                f"installed ({family.binary}-restore: {out.strip()[:300]})."
            )
        log.info("installed the %s firewall rules that isolate sessions", family.name)
        return True

    @contextlib.asynccontextmanager
    async def _host_lock(self) -> AsyncIterator[None]:
        """One agent at a time on this host checks and changes the rules."""
        try:
            fd = await asyncio.to_thread(
                os.open, self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
        except OSError as e:  # iptables will say whether we may change the rules at all
            log.debug("no firewall lock file %s: %s", self._lock_path, e)
            yield
            return
        try:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock
