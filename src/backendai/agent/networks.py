"""Each session's own network: made, shared by the session's containers, removed after them.

A session's first kernel gets a bridge network of its own: a spare made ahead of need
(``network_spares.py``, ``layout.spare_network_name``), else one made as the kernel starts
(``layout.session_network_name``, labelled with the session id too); a warm pool container gets
one ahead of time (``layout.pool_network_name``) that stays the session's when a kernel claims
it. All are labelled with the agent id and ``LABEL_NETWORK``. Docker can neither rename a network
nor change its labels, so which session a spare or a pool network serves is recorded where it
can be: by the session's containers (their session label, and the network they are created
on) and by claims (``claims.py``); the agent keeps it in memory (``take``, ``bind``) and learns
it again from them when it re-adopts its kernels. The host firewall (``firewall.py``) keeps every
such bridge away from the host and from the others; Docker's embedded DNS answers inside them.

Subnets come from the agent's own pool (``network_pool``, cut into ``network_prefix``
subnets), never from Docker's default address pools, which hold only ~30 bridges. A subnet is
chosen among those that no network on the engine, no route of the host and no create of this
agent in flight uses, starting at a random place so that agents sharing an engine rarely want
the same one; when another agent takes it first anyway, the engine refuses it and the next one
is tried.

Networks are counted: every kernel, pool member and spare on one holds it, and the last one to
let go removes it. Holds are taken before anything is awaited, so the sweep (at start and every
``SWEEP_INTERVAL``) that removes networks of this agent that nothing holds and no container of
this agent is on never takes one being made or joined. Spares left by an earlier run of the
agent are such networks: the sweep at start removes them, and new ones are made.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import ipaddress
import logging
import random
import secrets
import uuid
from collections.abc import Iterable
from ipaddress import IPv4Network

from backendai.agent.backends.protocol import ContainerBackend, NetworkSpec
from backendai.agent.errors import (
    BackendError,
    NetworkExists,
    NetworkPoolExhausted,
    SubnetTaken,
)
from backendai.agent.firewall import CLOSED_PREFIX, OPEN_PREFIX, Firewall
from backendai.agent.layout import (
    LABEL_NETWORK,
    LABEL_POOL,
    pool_network_name,
    session_network_name,
    spare_network_name,
)
from backendai.agent.network_spares import SpareNetworks
from backendai.agent.settings import AgentSettings
from backendai.common.agent_protocol import LABEL_AGENT_ID, LABEL_SESSION_ID
from backendai.common.errors import PlatformError

log = logging.getLogger(__name__)

CREATE_ATTEMPTS = 32  # subnets tried for one network before giving up
SWEEP_INTERVAL = 60.0  # seconds between checks of the firewall rules and unused networks
BRIDGE_SUFFIX = 15 - 4  # hex digits after the 4-character prefix: Linux allows 15 in all


def free_subnet(
    pool: IPv4Network, prefix: int, taken: Iterable[IPv4Network], start: int = 0
) -> IPv4Network | None:
    """The first subnet of ``pool`` of length ``prefix``, from the ``start``-th on (wrapping
    around), that overlaps nothing ``taken``; None if there is none."""
    size = 2 ** (32 - prefix)
    count = pool.num_addresses // size
    base = int(pool.network_address)
    merged: list[list[int]] = []  # disjoint [first, last] address ranges, in order
    for first, last in sorted(
        (int(n.network_address), int(n.broadcast_address)) for n in taken if n.overlaps(pool)
    ):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    starts = [r[0] for r in merged]
    start %= count
    for index, end in ((start, count), (0, start)):
        while index < end:
            first = base + index * size
            at = bisect.bisect_right(starts, first + size - 1) - 1
            if at < 0 or merged[at][1] < first:
                return IPv4Network((first, prefix))
            # The next candidate after the range in the way.
            index = max(index + 1, -(-(merged[at][1] + 1 - base) // size))
    return None


def host_routes() -> list[IPv4Network]:
    """The IPv4 networks this host routes somewhere (the default route aside): a session's
    subnet must not hide one of them from the host."""
    routes = []
    try:
        with open("/proc/net/route") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or fields[7] == "00000000":
            continue
        destination = ipaddress.IPv4Address(bytes.fromhex(fields[1])[::-1])
        mask = ipaddress.IPv4Address(bytes.fromhex(fields[7])[::-1])
        with contextlib.suppress(ValueError):
            routes.append(IPv4Network(f"{destination}/{mask}", strict=False))
    return routes


def bridge_name(outbound: bool) -> str:
    return (OPEN_PREFIX if outbound else CLOSED_PREFIX) + secrets.token_hex(6)[:BRIDGE_SUFFIX]


class SessionNetworks:
    def __init__(
        self,
        settings: AgentSettings,
        backend: ContainerBackend,
        firewall: Firewall | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.settings, self.backend, self.firewall = settings, backend, firewall
        self._rng = rng or random.Random()
        # network name -> the kernels, pool members and spares that hold it
        self._holders: dict[str, int] = {}
        self._made: set[str] = set()  # networks known to exist on the engine
        self._locks: dict[str, asyncio.Lock] = {}
        self._in_flight: set[IPv4Network] = set()  # subnets being asked for right now
        # Subnets of the networks made here, until removed: a listing begun before one was
        # made does not show it.
        self._subnets: dict[str, IPv4Network] = {}
        self._removing: set[asyncio.Task[None]] = set()
        # Each session's network here (bound before anything is awaited, so that kernels of one
        # session created at once share one), until the network is removed.
        self._sessions: dict[uuid.UUID, str] = {}
        self.spares = SpareNetworks(settings.network_spares, self._make_spare)

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def held(self, name: str) -> int:
        return self._holders.get(name, 0)

    # --- getting a network -------------------------------------------------------------------

    def session_network(self, session_id: uuid.UUID) -> str | None:
        return self._sessions.get(session_id)

    def take(self, session_id: uuid.UUID) -> str:
        """The name of the session's network, now held once more: the one it has here, else a
        spare, else a new one that ``ensure`` makes. Never awaits: a second kernel of the
        session, created at the same moment, gets the same network."""
        name = self._sessions.get(session_id)
        if name is not None:  # another kernel of the session is here: join its network
            self._holders[name] = self.held(name) + 1
            return name
        name = self.spares.take()  # its hold as a spare becomes the kernel's
        if name is None:
            name = session_network_name(self.settings.id, session_id)
            self._holders[name] = self.held(name) + 1
        self._sessions[session_id] = name
        return name

    async def ensure(self, name: str, session_id: uuid.UUID) -> str:
        """Make the network ``take`` named unless it exists; on failure, let go of the hold."""
        labels = {LABEL_NETWORK: "session", LABEL_SESSION_ID: str(session_id)}
        await self._made_or_release(name, labels)
        return name

    async def for_session(self, session_id: uuid.UUID) -> str:
        """The session's network (``take`` and ``ensure``); now held once more."""
        return await self.ensure(self.take(session_id), session_id)

    async def for_pool_member(self, member_id: uuid.UUID, image: str) -> str:
        name = pool_network_name(member_id)
        await self._acquire(name, {LABEL_NETWORK: "pool", LABEL_POOL: image})
        return name

    async def _make_spare(self) -> str:
        """A new spare (``SpareNetworks``' maker), held once. No session label: which session
        takes it is not known yet."""
        name = spare_network_name(uuid.uuid4())
        await self._acquire(name, {LABEL_NETWORK: "session"})
        return name

    def adopt(self, name: str, session_id: uuid.UUID | None = None) -> None:
        """A network in use, held once more: a re-adopted kernel's after an agent restart (its
        session's from now on, when given)."""
        self._holders[name] = self.held(name) + 1
        self._made.add(name)
        if session_id is not None:
            self.bind(session_id, name)

    def bind(self, session_id: uuid.UUID, name: str) -> None:
        """Record ``name`` as the session's network (a claimed pool container's), unless the
        session has one here already."""
        self._sessions.setdefault(session_id, name)

    def busy(self) -> contextlib.AbstractContextManager[None]:
        """Around a kernel's create, destroy or restart: no spare is made meanwhile."""
        return self.spares.busy()

    async def _acquire(self, name: str, labels: dict[str, str]) -> None:
        self._holders[name] = self.held(name) + 1  # before any await: see the module's doc
        await self._made_or_release(name, labels)

    async def _made_or_release(self, name: str, labels: dict[str, str]) -> None:
        """Make the held network ``name`` unless it exists; on failure, let go of the hold.
        Always under the network's lock: a removal under way ends first (then it is made
        again)."""
        try:
            async with self._lock(name):
                if name not in self._made:
                    ours = {LABEL_AGENT_ID: self.settings.id, **labels}
                    creating = asyncio.ensure_future(self._create(name, ours))
                    try:
                        await asyncio.shield(creating)
                    except asyncio.CancelledError:
                        # The engine finishes a create it was asked for, whether or not the
                        # asker is still there: wait for it, so that the release below removes
                        # what it made instead of leaving it behind (a stop during a refill).
                        with contextlib.suppress(Exception):
                            await creating
                        raise
                    self._made.add(name)
        except BaseException:
            await asyncio.shield(self.release(name))
            raise

    async def _create(self, name: str, labels: dict[str, str]) -> None:
        pool, prefix = self.settings.network_pool, self.settings.network_prefix
        refused: set[IPv4Network] = set()
        for _ in range(CREATE_ATTEMPTS):
            taken = [*await self._taken(), *self._in_flight, *self._subnets.values(), *refused]
            start = self._rng.randrange(pool.num_addresses // 2 ** (32 - prefix))
            subnet = free_subnet(pool, prefix, taken, start)
            if subnet is None:
                raise NetworkPoolExhausted(
                    f"No /{prefix} subnet of the agent's network pool {pool} is free."
                )
            self._in_flight.add(subnet)
            try:
                spec = NetworkSpec(
                    name=name,
                    subnet=str(subnet),
                    gateway=str(subnet.network_address + 1),
                    bridge=bridge_name(self.settings.outbound_access),
                    labels=labels,
                )
                await self.backend.create_network(spec)
                self._subnets[name] = subnet
                log.debug("network %s: %s on %s", name, subnet, spec.bridge)
                return
            except SubnetTaken as e:  # another agent took it a moment ago
                log.info("subnet %s of network %s was taken (%s); trying another", subnet,
                         name, e)  # fmt: skip
                refused.add(subnet)
            except NetworkExists:
                if name in {n.name for n in await self.backend.list_networks(self._ours())}:
                    return  # ours, made before a restart or by an interrupted create: join it
                raise
            finally:
                self._in_flight.discard(subnet)
        raise BackendError(f"No free subnet was found for the network {name}.")

    async def _taken(self) -> list[IPv4Network]:
        networks = await self.backend.list_networks({})
        taken = []
        for network in networks:
            for subnet in network.subnets:
                with contextlib.suppress(ValueError):
                    taken.append(IPv4Network(subnet, strict=False))
        if self.backend.bridges_on_host:
            taken += host_routes()
        return taken

    def _ours(self) -> dict[str, str]:
        return {LABEL_AGENT_ID: self.settings.id}

    # --- letting go ----------------------------------------------------------------------------

    async def release(self, name: str | None) -> None:
        """One holder fewer; the last one removes the network (now)."""
        if name is None:
            return
        self._holders[name] = max(0, self.held(name) - 1)
        if self._holders[name] == 0:
            self._holders.pop(name, None)
            await self._remove_unheld(name)

    def release_soon(self, name: str | None) -> None:
        """``release``, the removal in the background: off the path of a destroy."""
        if name is None:
            return
        task = asyncio.create_task(self.release(name))
        self._removing.add(task)
        task.add_done_callback(self._removing.discard)

    async def _remove_unheld(self, name: str) -> bool:
        """Remove the network unless someone holds it (again); whether it was removed."""
        async with self._lock(name):
            if self.held(name):
                return False  # taken again meanwhile (another kernel of the session)
            try:
                await self.backend.remove_network(name)
            except PlatformError as e:  # the sweep tries again
                log.warning("could not remove the network %s: %s", name, e)
                return False
            self._made.discard(name)
            self._subnets.pop(name, None)
        if not self.held(name):  # else a kernel of its session came meanwhile: made again
            self._locks.pop(name, None)
            for session_id in [s for s, n in self._sessions.items() if n == name]:
                del self._sessions[session_id]
        return True

    async def sweep(self) -> list[str]:
        """Remove this agent's networks that nothing holds and none of its containers is on
        (left by a crash, or a removal that failed); their names."""
        ours = [
            n for n in await self.backend.list_networks(self._ours()) if LABEL_NETWORK in n.labels
        ]
        if not ours:
            return []
        containers = await self.backend.list_containers(self._ours())
        used = {name for record in containers for name in record.networks}
        removed = []
        for network in ours:
            if self.held(network.name) or network.name in used:
                continue
            if await self._remove_unheld(network.name):
                removed.append(network.name)
        if removed:
            log.info("removed %d unused session network(s)", len(removed))
        return removed

    async def maintain(self, interval: float = SWEEP_INTERVAL) -> None:
        """Keep the firewall rules in place (a host firewall reload drops them) and remove
        unused networks, until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                if self.firewall is not None and await self.firewall.ensure():
                    log.warning("the session firewall rules had gone; installed again")
                await self.sweep()
            except Exception as e:  # the engine hiccuped: try again next time
                log.warning("network maintenance failed: %s", e)

    def start(self) -> None:
        """Begin making spares (after the sweep at start, which removes an earlier run's)."""
        self.spares.start()

    async def close(self) -> None:
        """Stop making spares, remove those left, and finish the removals under way."""
        for name in await self.spares.stop():
            self.release_soon(name)
        await asyncio.gather(*self._removing, return_exceptions=True)
