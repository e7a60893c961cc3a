"""The kernels this agent runs: create, destroy, restart, re-adopt, and the cores they hold.

Every step is idempotent per kernel id: the container carries the kernel id and everything
needed to take it back (slots, service ports) in its labels, so a retried create returns the
existing container and an agent restart re-adopts all of them without any other state. A kernel
that claimed a warm pool container (``pool.py``) has no such labels; its claim record
(``claims.py``) stands in for them. A kernel's network (``networks.py``) is the one its container
is on, as the engine says (or its claim), so re-adopted kernels keep theirs, and their sessions'
later kernels join it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from backendai.agent.backends.protocol import ContainerBackend, ContainerRecord
from backendai.agent.batch_tasks import BatchTasks
from backendai.agent.bootstrap import run_bootstrap
from backendai.agent.claims import Claim, all_claims, read_claim, take_over
from backendai.agent.devices import (
    DeviceSet,
    KernelDevices,
    add_to_spec,
    attached_devices,
    from_label,
    load_devices,
)
from backendai.agent.dotfiles import write_dotfiles
from backendai.agent.errors import ContainerNotFound, KernelCreationFailed, KernelNotFound
from backendai.agent.files import KernelFiles
from backendai.agent.fstree import remove_tree
from backendai.agent.layout import (
    LABEL_AGENT_PORTS,
    LABEL_DEVICES,
    LABEL_NETWORK,
    LABEL_POOL,
    LABEL_SLOTS,
    KernelPaths,
    install_runner,
    kernel_paths,
)
from backendai.agent.live_stats import LiveStats
from backendai.agent.networks import SessionNetworks
from backendai.agent.pool import PoolMember, WarmPool
from backendai.agent.resources import Capacity, CoreAllocator, cores_needed
from backendai.agent.runner_link import configure, wait_ready
from backendai.agent.settings import AgentSettings
from backendai.agent.spec import base_mounts, build_spec, parse_service_ports
from backendai.agent.vfolder_mounts import vfolder_mount_specs
from backendai.common.agent_protocol import (
    LABEL_AGENT_ID,
    LABEL_KERNEL_ID,
    LABEL_SESSION_ID,
    ContainerInfo,
    ContainerState,
    DestroyResult,
    KernelCreated,
    KernelCreateRequest,
    KernelStats,
    MountSpec,
    ServicePort,
)
from backendai.common.errors import PlatformError
from backendai.common.image_labels import LABEL_SERVICE_PORTS
from backendai.common.slots import ResourceSlot, format_amount

log = logging.getLogger(__name__)

LOG_KEEP = 2**20  # the tail of a container's log kept in a DestroyResult


@dataclass
class Kernel:
    kernel_id: uuid.UUID
    session_id: uuid.UUID
    container_id: str
    paths: KernelPaths
    slots: dict[str, str]
    mounts: list[MountSpec]
    service_ports: list[ServicePort]
    claim: Claim | None = None  # set when it runs in a claimed warm pool container
    # Set when the agent ends it for reaching its memory limit, so a run cut short by that
    # stop can say why, whichever of the runner's last frame and the container's death is first.
    out_of_memory: bool = False
    network: str | None = None  # its session's network; None: the engine's default (older)
    devices: KernelDevices = field(default_factory=dict)  # what device plugins gave it

    def memory_limit(self, fallback: int | None = None) -> str:
        limit = self.slots.get("mem") or fallback
        return format_amount("mem", ResourceSlot({"mem": limit})["mem"]) if limit else "?"

    def created(self) -> KernelCreated:
        return KernelCreated(
            kernel_id=self.kernel_id,
            container_id=self.container_id,
            service_ports=self.service_ports,
            occupied_slots=self.slots,
            attached_devices=attached_devices(self.devices),
        )


class KernelRegistry:
    def __init__(
        self,
        settings: AgentSettings,
        backend: ContainerBackend,
        capacity: Capacity,
        networks: SessionNetworks | None = None,
        devices: DeviceSet | None = None,
    ) -> None:
        self.settings, self.backend = settings, backend
        self.devices = devices or load_devices(settings, capacity)
        self.networks = networks or SessionNetworks(settings, backend)
        self.kernels: dict[uuid.UUID, Kernel] = {}
        self.cores = CoreAllocator(capacity.cores)
        # Kernels being destroyed or restarted: their containers' exits are our doing.
        self.quiet: set[uuid.UUID] = set()
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}
        self._claimed: dict[str, uuid.UUID] = {}  # claimed pool container id -> kernel id
        self.runner_dir = install_runner(settings.data_dir)
        self.pool = WarmPool(settings, backend, self.runner_dir, capacity.cores, self.networks)
        self.tasks = BatchTasks(settings, backend)
        self.live_stats = LiveStats(backend)

    def _lock(self, kernel_id: uuid.UUID) -> asyncio.Lock:
        return self._locks.setdefault(kernel_id, asyncio.Lock())

    def get(self, kernel_id: uuid.UUID) -> Kernel:
        try:
            return self.kernels[kernel_id]
        except KeyError:
            raise KernelNotFound(f"The kernel {kernel_id} is not on this agent.") from None

    def files(self, kernel_id: uuid.UUID) -> KernelFiles:
        kernel = self.get(kernel_id)
        return KernelFiles(kernel.mounts, self.settings.uid, self.settings.gid)

    def kernel_id_of(self, container_id: str, labels: Mapping[str, str]) -> uuid.UUID | None:
        """The kernel one of our containers runs: from its labels, or from its claim."""
        if LABEL_KERNEL_ID in labels:
            try:
                return uuid.UUID(labels[LABEL_KERNEL_ID])
            except ValueError:
                return None
        return self._claimed.get(container_id)

    def _claim_of(self, kernel_id: uuid.UUID) -> Claim | None:
        kernel = self.kernels.get(kernel_id)
        return kernel.claim if kernel is not None else read_claim(self.settings.data_dir, kernel_id)

    async def _find(self, kernel_id: uuid.UUID) -> list[ContainerRecord]:
        labels = {LABEL_AGENT_ID: self.settings.id, LABEL_KERNEL_ID: str(kernel_id)}
        records = await self.backend.list_containers(labels)
        claim = self._claim_of(kernel_id)
        if claim is not None:
            with contextlib.suppress(ContainerNotFound):
                records.append(await self.backend.inspect(claim.container_id))
        return records

    # --- create ------------------------------------------------------------------------------

    async def create(self, req: KernelCreateRequest) -> KernelCreated:
        async with self._lock(req.kernel_id):
            found = await self._find(req.kernel_id)
            if found:
                return await self._resume(req.kernel_id, found[0])
            with self.networks.busy():  # no spare network is made meanwhile
                # A pool container is on a network of its own: a session's later kernels join
                # the network its first one is on instead.
                first = self.networks.session_network(req.session_id) is None and not any(
                    k.session_id == req.session_id for k in self.kernels.values()
                )
                member = await self.pool.claim(req) if first else None
                if member is not None:
                    try:
                        return await self._claim(req, member)
                    except (PlatformError, OSError) as e:
                        log.warning(
                            "kernel %s could not claim the warm pool container %s (%s); "
                            "starting a new one", req.kernel_id, member.container_id[:12], e,
                        )  # fmt: skip
                return await self._create(req)

    async def _resume(self, kernel_id: uuid.UUID, record: ContainerRecord) -> KernelCreated:
        """A create retried for a container that exists: finish what the first one began."""
        kernel = self.kernels.get(kernel_id) or self._adopt(
            await self.backend.inspect(record.id), self._claim_of(kernel_id),
            await self._our_networks(),
        )  # fmt: skip
        if record.state is ContainerState.CREATED:
            await self.backend.start(record.id)
        if record.state in (ContainerState.CREATED, ContainerState.RUNNING):
            await wait_ready(
                self.backend, record.id, kernel.paths.socket, self.settings.ready_timeout
            )
        return kernel.created()

    async def _claim(self, req: KernelCreateRequest, member: PoolMember) -> KernelCreated:
        """Make a warm pool container this kernel's: its limits, its environment, recorded."""
        cpu = Decimal(req.slots.get("cpu", "1"))
        cores = self.cores.allocate(req.kernel_id, min(cores_needed(cpu), len(self.cores.cores)))
        try:
            claim = await take_over(self.backend, self.settings, req, member, cores)
        except BaseException:
            self.cores.release(req.kernel_id)
            await asyncio.shield(self.pool.discard(member))
            root = kernel_paths(self.settings.data_dir, req.kernel_id).root
            await asyncio.to_thread(remove_tree, root, ignore_errors=True)
            raise
        s = self.settings
        await asyncio.to_thread(write_dotfiles, member.paths.home, req.dotfiles, s.uid, s.gid)
        mounts = base_mounts(member.paths, self.runner_dir)
        kernel = self._claimed_kernel(claim, mounts)
        if req.task is not None:
            await self.tasks.start(kernel, req.task)
        log.info("kernel %s claimed pool container %s", req.kernel_id, member.container_id[:12])
        return kernel.created()

    def _claimed_kernel(self, claim: Claim, mounts: list[MountSpec]) -> Kernel:
        service_ports = [p.model_copy(deep=True) for p in claim.service_ports]
        kernel = Kernel(claim.kernel_id, claim.session_id, claim.container_id, claim.paths,
                        dict(claim.slots), mounts, service_ports, claim,
                        network=claim.network)  # fmt: skip
        self.kernels[claim.kernel_id] = kernel
        self._claimed[claim.container_id] = claim.kernel_id
        if claim.network is not None:  # the member's hold on it is the kernel's now
            self.networks.bind(claim.session_id, claim.network)
        return kernel

    async def _create(self, req: KernelCreateRequest) -> KernelCreated:
        s = self.settings
        image_labels = await self.backend.image_labels(req.image)
        service_ports = parse_service_ports(
            image_labels.get(LABEL_SERVICE_PORTS, ""), req.preopen_ports
        )
        cpu = Decimal(req.slots.get("cpu", "1"))
        uid = s.uid if req.uid is None else req.uid
        # Checked (and .ssh made fit for sshd) before anything of the kernel is made.
        folders = await asyncio.to_thread(vfolder_mount_specs, s, req.vfolders, uid, s.gid)
        paths = kernel_paths(s.data_dir, req.kernel_id)
        await asyncio.to_thread(paths.prepare, uid, s.gid)
        await asyncio.to_thread(write_dotfiles, paths.home, req.dotfiles, uid, s.gid)
        mounts = [*base_mounts(paths, self.runner_dir), *req.mounts, *folders]
        cores = self.cores.allocate(req.kernel_id, min(cores_needed(cpu), len(self.cores.cores)))
        # The session's network, if another of its kernels is here already, else a spare made
        # ahead, else one made while the container is: the engine looks for a container's
        # network only at start. Held from here on.
        network = self.networks.take(req.session_id)
        making = asyncio.ensure_future(self.networks.ensure(network, req.session_id))
        container_id = None
        try:
            spec = build_spec(s, req, mounts, cores, service_ports, network)
            held = self.devices.allocate(req.kernel_id, req.slots)  # released by _discard
            add_to_spec(spec, self.devices, held)
            container_id = await self.backend.create(spec)
            network = await asyncio.shield(making)
            kernel = Kernel(
                req.kernel_id, req.session_id, container_id, paths, req.slots, mounts,
                service_ports, network=network, devices=held,
            )  # fmt: skip
            self.kernels[req.kernel_id] = kernel
            await self.backend.start(container_id)
            await wait_ready(self.backend, container_id, paths.socket, s.ready_timeout)
            if req.bootstrap_script:
                await run_bootstrap(
                    self.backend, container_id, req.bootstrap_script, f"{uid}:{s.gid}",
                    s.bootstrap_timeout,
                )  # fmt: skip
            if req.task is not None:
                await self.tasks.start(kernel, req.task)
        except BaseException as e:
            await asyncio.shield(self._discard(req.kernel_id, container_id, [paths.root], making))
            if isinstance(e, PlatformError | asyncio.CancelledError):
                raise
            raise KernelCreationFailed(f"The kernel could not be started: {e!r}") from e
        log.info("kernel %s started in container %s", req.kernel_id, container_id[:12])
        return kernel.created()

    async def _discard(
        self,
        kernel_id: uuid.UUID,
        container_id: str | None,
        roots: list[Path],
        making: asyncio.Future[str] | None = None,
    ) -> None:
        """Remove what a kernel had: container, cores, network (``making``: a create's, which
        it may have held before its kernel was registered), directories."""
        self.quiet.add(kernel_id)
        try:
            await self.tasks.forget(kernel_id)
            if container_id is not None:
                with contextlib.suppress(PlatformError):
                    await self.backend.destroy(container_id)
            kernel = self.kernels.pop(kernel_id, None)
            network = None
            if kernel is not None:
                self._claimed.pop(kernel.container_id, None)
                network = kernel.network
            elif making is not None:
                with contextlib.suppress(BaseException):  # made, or failed holding nothing
                    network = await making
            self.networks.release_soon(network)  # off the path of the destroy
            self.cores.release(kernel_id)
            self.devices.release(kernel_id)
            for root in roots:
                await asyncio.to_thread(remove_tree, root, ignore_errors=True)
        finally:
            self.quiet.discard(kernel_id)

    # --- stats, destroy, restart, adopt, list ------------------------------------------------

    async def stats(self, kernel_id: uuid.UUID) -> KernelStats:
        kernel = self.get(kernel_id)
        last_stat = None
        with contextlib.suppress(PlatformError):
            last_stat = await self.backend.stats(kernel.container_id)
        return KernelStats(kernel_id=kernel_id, last_stat=last_stat)

    async def destroy(self, kernel_id: uuid.UUID) -> DestroyResult:
        """Idempotent: destroying a kernel that is not here returns an empty result."""
        with self.networks.busy():  # no spare network is made meanwhile
            return await self._destroy(kernel_id)

    async def _destroy(self, kernel_id: uuid.UUID) -> DestroyResult:
        roots = [kernel_paths(self.settings.data_dir, kernel_id).root]
        async with self._lock(kernel_id):
            claim = self._claim_of(kernel_id)
            if claim is not None:
                roots.append(claim.paths.root)
            await self.tasks.forget(kernel_id)  # before its runner goes with the container
            last_stat, container_log = None, None
            for record in await self._find(kernel_id):
                if record.state is ContainerState.RUNNING:
                    with contextlib.suppress(PlatformError):
                        last_stat = await self.backend.stats(record.id)
                with contextlib.suppress(PlatformError):
                    container_log = (await self.backend.logs(record.id))[-LOG_KEEP:]
                self.quiet.add(kernel_id)  # its exit is our doing, not news for the manager
                await self.backend.destroy(record.id)
            await self._discard(kernel_id, None, roots)
        self._locks.pop(kernel_id, None)
        return DestroyResult(kernel_id=kernel_id, last_stat=last_stat, container_log=container_log)

    async def restart(self, kernel_id: uuid.UUID) -> KernelCreated:
        """A new runner (fresh interpreter) in the same container; files in /home/work stay."""
        with self.networks.busy():  # no spare network is made meanwhile
            return await self._restart(kernel_id)

    async def _restart(self, kernel_id: uuid.UUID) -> KernelCreated:
        async with self._lock(kernel_id):
            kernel = self.get(kernel_id)
            self.quiet.add(kernel_id)
            try:
                await self.backend.stop(kernel.container_id, grace=5.0)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(kernel.paths.socket)  # so the probe waits for the new runner
                await self.backend.start(kernel.container_id)
                await wait_ready(
                    self.backend, kernel.container_id, kernel.paths.socket,
                    self.settings.ready_timeout,
                )  # fmt: skip
                if kernel.claim is not None:  # the container's own environment is neutral
                    await configure(kernel.paths.socket, kernel.claim.environ)
            finally:
                self.quiet.discard(kernel_id)
        return kernel.created()

    async def start_pool(self) -> None:
        """Start the warm pool (after ``adopt_all``): claimed containers are kernels now."""
        claims = all_claims(self.settings.data_dir)
        await self.pool.start({c.container_id for c in claims}, {c.paths.root for c in claims})
        # The networks of stale pool members, and of kernels gone while the agent was not
        # running; never those of the kernels just re-adopted.
        with contextlib.suppress(PlatformError):
            await self.networks.sweep()

    async def adopt_all(self) -> list[Kernel]:
        """Take back the containers labelled with our agent id (after an agent restart), and
        the claimed warm pool containers; unclaimed ones are the pool's to remove."""
        claims = {c.container_id: c for c in all_claims(self.settings.data_dir)}
        networks = await self._our_networks()
        adopted = []
        for record in await self.backend.list_containers({LABEL_AGENT_ID: self.settings.id}):
            claim = claims.get(record.id)
            if LABEL_POOL in record.labels and claim is None:
                continue
            try:
                inspected = await self.backend.inspect(record.id)
                adopted.append(self._adopt(inspected, claim, networks))
            except (KeyError, ValueError) as e:
                log.warning("cannot adopt container %s (bad labels: %s)", record.id[:12], e)
        for kernel in adopted:
            await self.tasks.adopt(kernel)
        if adopted:
            log.info("re-adopted %d kernel(s)", len(adopted))
        return adopted

    async def _our_networks(self) -> set[str]:
        records = await self.backend.list_networks({LABEL_AGENT_ID: self.settings.id})
        return {n.name for n in records if LABEL_NETWORK in n.labels}

    def _adopt(self, record: ContainerRecord, claim: Claim | None, networks: set[str]) -> Kernel:
        """A kernel from its container (and claim); it holds its network again."""
        network = next((n for n in record.networks if n in networks), None)
        if claim is not None and claim.container_id == record.id:
            kernel = self._claimed_kernel(claim, record.mounts)
            kernel.network = network or claim.network
            self.cores.adopt(kernel.kernel_id, record.cpuset)
            if kernel.network is not None:
                self.networks.adopt(kernel.network, kernel.session_id)
            return kernel
        kernel_id = _kernel_id(record)
        ports = [
            ServicePort.model_validate(p)
            for p in json.loads(record.labels.get(LABEL_AGENT_PORTS, "[]"))
        ]
        kernel = Kernel(
            kernel_id=kernel_id,
            session_id=uuid.UUID(record.labels[LABEL_SESSION_ID]),
            container_id=record.id,
            paths=kernel_paths(self.settings.data_dir, kernel_id),
            slots=json.loads(record.labels.get(LABEL_SLOTS, "{}")),
            mounts=record.mounts,
            service_ports=ports,
            network=network,
            devices=from_label(record.labels.get(LABEL_DEVICES)),
        )
        self.cores.adopt(kernel_id, record.cpuset)
        self.devices.restore(kernel_id, kernel.devices)
        if network is not None:
            self.networks.adopt(network, kernel.session_id)
        self.kernels[kernel_id] = kernel
        return kernel

    async def container_infos(self) -> list[ContainerInfo]:
        """Our kernels' containers as the manager sees them (warm pool members are not)."""
        infos = []
        for r in await self.backend.list_containers({LABEL_AGENT_ID: self.settings.id}):
            kernel_id = self.kernel_id_of(r.id, r.labels)
            kernel = self.kernels.get(kernel_id) if kernel_id is not None else None
            if LABEL_SESSION_ID in r.labels:
                session_id = uuid.UUID(r.labels[LABEL_SESSION_ID])
            elif kernel is not None:
                session_id = kernel.session_id
            else:
                continue
            infos.append(
                ContainerInfo(
                    kernel_id=kernel_id,
                    session_id=session_id,
                    container_id=r.id,
                    state=r.state,
                    exit_code=r.exit_code,
                    oom_killed=r.oom_killed,
                    started_at=r.started_at,
                    task_exit_code=self.tasks.exit_code(kernel_id) if kernel_id else None,
                )
            )
        stats = await self.live_stats.sample(
            [(i.kernel_id, i.container_id) for i in infos if i.state is ContainerState.RUNNING]
        )
        for info in infos:
            info.stat = stats.get(info.kernel_id)
        return infos


def _kernel_id(record: ContainerRecord) -> uuid.UUID:
    return uuid.UUID(record.labels[LABEL_KERNEL_ID])
