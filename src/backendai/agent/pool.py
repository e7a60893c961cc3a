"""The warm pool: containers of the usual images started ahead of time, their runner ready, so
that a new kernel of such an image claims one instead of waiting for a container to start.

A member is made like a kernel's container (same user, no capabilities, no-new-privileges, pids
limit, no published port) but neutral: labelled ``ai.backend.agent.pool`` instead
of with a kernel and session, one core of CPU time over all cores, ``POOL_MEMORY`` of memory, the
base environment, its own home and ipc directories under ``pool/``. Members are not kernels:
they hold no cores, are never reported to the manager and never count as sessions.

``take`` removes a member from the pool without awaiting anything, so no two kernels can ever get
the same container; the kernel registry then applies the kernel's limits and environment and
records the claim (``claims.py``). Taken members are replaced in the background, one at a time.
At start, members a previous run left behind are removed (an unclaimed one may have been half
claimed when that run stopped), and at stop every idle member is; their networks go with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from backendai.agent.backends.protocol import ContainerBackend
from backendai.agent.fstree import remove_tree
from backendai.agent.layout import LABEL_POOL, KernelPaths, pool_paths
from backendai.agent.networks import SessionNetworks
from backendai.agent.runner_link import RunnerLink, wait_ready
from backendai.agent.settings import AgentSettings
from backendai.agent.spec import base_mounts, build_pool_spec, parse_service_ports
from backendai.common.agent_protocol import (
    LABEL_AGENT_ID,
    ImageInfo,
    KernelCreateRequest,
    ServicePort,
)
from backendai.common.errors import PlatformError
from backendai.common.image_labels import LABEL_KERNELSPEC, LABEL_SERVICE_PORTS
from backendai.common.slots import parse_amount

log = logging.getLogger(__name__)

# The images users start most: python (the `python` alias) and the Jupyter image, whose
# sessions open an app at once and so feel a cold container most.
DEFAULT_REPOSITORIES = ("python", "python-jupyter")
RETRY_DELAY = 30.0  # after a member could not be prepared (image gone, engine trouble)
# A pool that still has a member is refilled only after this many seconds without a claim, so
# that preparing containers (CPU for the engine and a new interpreter) does not slow down the
# sessions just started; an empty one is refilled at once.
REFILL_QUIET = 0.5


def _version_key(name: str) -> tuple[Any, ...]:
    """Natural order of tags (3.9 < 3.11), as the manager orders them for its aliases."""
    tag = name.rpartition(":")[2]
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", tag) if p)


def default_pool_images(images: list[ImageInfo]) -> list[str]:
    """The newest tag of each of this agent's ``DEFAULT_REPOSITORIES``: what the manager's
    aliases (``python``, ``python-jupyter``) name."""
    chosen = []
    for repository in DEFAULT_REPOSITORIES:
        names = [
            i.name
            for i in images
            if LABEL_KERNELSPEC in i.labels
            and i.name.rpartition(":")[0].rsplit("/", 1)[-1] == repository
        ]
        tagged = [n for n in names if not n.endswith(":latest")] or names
        if tagged:
            chosen.append(max(tagged, key=_version_key))
    return chosen


@dataclass(frozen=True)
class PoolMember:
    container_id: str
    image: str
    paths: KernelPaths
    service_ports: list[ServicePort]
    link: RunnerLink | None = None  # opened beforehand, so that a claim skips the greeting
    network: str | None = None  # its own network, which a claim makes the session's


class WarmPool:
    def __init__(
        self,
        settings: AgentSettings,
        backend: ContainerBackend,
        runner_dir: Path,
        cores: list[int],
        networks: SessionNetworks,
    ) -> None:
        self.settings, self.backend, self.networks = settings, backend, networks
        self.runner_dir, self.cores = runner_dir, list(cores)
        self.images: list[str] = []
        self.idle: dict[str, list[PoolMember]] = {}
        self._waiters: dict[str, list[asyncio.Future[PoolMember | None]]] = {}
        self._preparing: dict[str, int] = {}  # image -> members being prepared now
        self._claimed_at = 0.0  # loop time of the last claim
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._discarding: set[asyncio.Task[None]] = set()

    # --- claiming ----------------------------------------------------------------------------

    def claimable(self, req: KernelCreateRequest) -> bool:
        """Whether a member can become this kernel: only limits and environment can change in
        a running container, and only the runner sees the environment."""
        shmem = req.resource_opts.get("shmem")
        return (
            "mem" in req.slots
            and not req.mounts
            and not req.vfolders  # bind mounts are made with the container
            and not req.bootstrap_script
            and not req.preopen_ports
            # A batch session's task runs through the runner once the kernel is claimed, as
            # in a container of its own; a bare startup command would need the image's start.
            and (req.task is not None if req.session_type == "batch" else not req.startup_command)
            and req.uid in (None, self.settings.uid)
            and (int(parse_amount("mem", shmem)) if shmem else self.settings.default_shmem)
            == self.settings.default_shmem
            and Decimal(req.slots.get("cpu", "1")) > 0
            # Devices (GPUs) are given at container creation: a kernel that needs any starts
            # a container of its own.
            and not any(Decimal(v) > 0 for k, v in req.slots.items() if k not in ("cpu", "mem"))
        )

    def take(self, req: KernelCreateRequest) -> PoolMember | None:
        """An idle member for ``req``, now its caller's alone; None if none fits. Never awaits."""
        members = self.idle.get(req.image)
        if not members or not self.claimable(req):
            return None
        member = members.pop(0)
        self._claimed_at = asyncio.get_running_loop().time()
        self._wake.set()  # replace it
        return member

    async def claim(self, req: KernelCreateRequest) -> PoolMember | None:
        """Like ``take``; when no member is idle but one is being prepared for the image (and
        no other kernel waits for it), wait for that one: it started before a new container
        would, and starting both at once would slow both down."""
        member = self.take(req)
        image = req.image
        waiters = self._waiters.setdefault(image, [])
        if member is not None or not self.claimable(req):
            return member
        if self._preparing.get(image, 0) <= len(waiters):
            return None
        waiter: asyncio.Future[PoolMember | None] = asyncio.get_running_loop().create_future()
        waiters.append(waiter)
        try:
            return await asyncio.shield(waiter)
        except asyncio.CancelledError:
            if waiter in waiters:
                waiters.remove(waiter)
            if waiter.done() and not waiter.cancelled() and (given := waiter.result()):
                self.idle.setdefault(image, []).insert(0, given)  # not ours after all
            waiter.cancel()
            raise

    def _deliver(self, image: str, member: PoolMember | None) -> None:
        """A member just prepared (None: the preparation failed) to the first waiting kernel,
        else into the pool."""
        waiters = self._waiters.get(image, [])
        while waiters:
            waiter = waiters.pop(0)
            if not waiter.done():
                waiter.set_result(member)
                self._claimed_at = asyncio.get_running_loop().time()
                self._wake.set()  # replace it
                return
        if member is not None:
            self.idle.setdefault(image, []).append(member)

    def forget(self, container_id: str) -> None:
        """An idle member's container died on its own: drop it and prepare another."""
        for image, members in self.idle.items():
            for member in members:
                if member.container_id == container_id:
                    members.remove(member)
                    log.warning("warm pool container %s of %s died", container_id[:12], image)
                    self.discard_later(member)
                    self._wake.set()
                    return

    async def discard(self, member: PoolMember) -> None:
        """Remove a member's container, network and directories (a failed claim, the agent
        stopping)."""
        if member.link is not None:
            await member.link.close()
        with contextlib.suppress(PlatformError):
            await self.backend.destroy(member.container_id)
        self.networks.release_soon(member.network)
        await asyncio.to_thread(remove_tree, member.paths.root, ignore_errors=True)

    def discard_later(self, member: PoolMember) -> None:
        task = asyncio.create_task(self.discard(member))
        self._discarding.add(task)
        task.add_done_callback(self._discarding.discard)

    # --- start, fill, stop -------------------------------------------------------------------

    async def start(self, claimed: set[str], claimed_dirs: set[Path]) -> None:
        """Remove the members a previous run left (except claimed containers and their
        directories), then fill the pool in the background."""
        await self._remove_stale(claimed, claimed_dirs)
        if self.settings.pool_size > 0:
            self._wake.set()
            self._task = asyncio.create_task(self._fill(), name="warm-pool")

    async def _find_images(self) -> None:
        """The configured images, else the default one once this agent has it."""
        if self.settings.pool_images is not None:
            self.images = list(self.settings.pool_images)
        else:
            with contextlib.suppress(PlatformError):
                self.images = default_pool_images(await self.backend.images())
        if self.images:
            log.info("warm pool: %d container(s) of %s", self.settings.pool_size,
                     ", ".join(self.images))  # fmt: skip

    async def _remove_stale(self, claimed: set[str], claimed_dirs: set[Path]) -> None:
        with contextlib.suppress(PlatformError):
            records = await self.backend.list_containers({LABEL_AGENT_ID: self.settings.id})
            stale = [r.id for r in records if LABEL_POOL in r.labels and r.id not in claimed]
            if stale:
                log.info("removing %d warm pool container(s) left by a previous run", len(stale))
            await asyncio.gather(*(self.backend.destroy(c) for c in stale), return_exceptions=True)
        root = self.settings.data_dir / "pool"
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(root):
                if Path(entry.path) not in claimed_dirs:
                    await asyncio.to_thread(remove_tree, entry.path, ignore_errors=True)

    async def _fill(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self.images:
                await self._find_images()
                if not self.images:  # no such image yet: look again later
                    self._wake_later(RETRY_DELAY)
                    continue
            for image in self.images:
                while len(self.idle.setdefault(image, [])) < self.settings.pool_size:
                    if self.idle[image] and not self._waiters.get(image):
                        quiet = self._claimed_at + REFILL_QUIET - asyncio.get_running_loop().time()
                        if quiet > 0:
                            await asyncio.sleep(quiet)
                            continue
                    self._preparing[image] = self._preparing.get(image, 0) + 1
                    try:
                        member = await self._prepare(image)
                    except asyncio.CancelledError:
                        raise
                    except Exception as e:
                        log.warning("warm pool: cannot prepare a container of %s: %s", image, e)
                        self._preparing[image] -= 1
                        self._deliver(image, None)
                        self._wake_later(RETRY_DELAY)
                        break
                    self._preparing[image] -= 1
                    self._deliver(image, member)

    def _wake_later(self, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self._wake.set)

    async def _prepare(self, image: str) -> PoolMember:
        s = self.settings
        member_id = uuid.uuid4()
        paths = pool_paths(s.data_dir, member_id)
        await asyncio.to_thread(paths.prepare, s.uid, s.gid)
        labels = await self.backend.image_labels(image)
        service_ports = parse_service_ports(labels.get(LABEL_SERVICE_PORTS, ""))
        mounts = base_mounts(paths, self.runner_dir)
        container_id, network = None, None
        try:
            network = await self.networks.for_pool_member(member_id, image)
            spec = build_pool_spec(s, image, member_id, mounts, self.cores, service_ports, network)
            container_id = await self.backend.create(spec)
            await self.backend.start(container_id)
            await wait_ready(self.backend, container_id, paths.socket, s.ready_timeout)
            link = await RunnerLink.connect(paths.socket)
        except BaseException:
            if container_id is not None:
                member = PoolMember(container_id, image, paths, service_ports, None, network)
                await asyncio.shield(self.discard(member))
            else:
                self.networks.release_soon(network)
                await asyncio.to_thread(remove_tree, paths.root, ignore_errors=True)
            raise
        return PoolMember(container_id, image, paths, service_ports, link, network)

    async def close(self) -> None:
        """Stop filling and remove every idle member (claimed ones are kernels now)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        members = [m for members in self.idle.values() for m in members]
        self.idle.clear()
        await asyncio.gather(
            *(self.discard(m) for m in members), *self._discarding, return_exceptions=True
        )
