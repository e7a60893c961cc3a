"""The kernels this agent runs: create, destroy, restart, re-adopt, and the cores they hold.

Every step is idempotent per kernel id: the container carries the kernel id and everything
needed to take it back (slots, service ports) in its labels, so a retried create returns the
existing container and an agent restart re-adopts all of them without any other state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from decimal import Decimal

from backendai.agent.backends.protocol import ContainerBackend, ContainerRecord
from backendai.agent.errors import KernelCreationFailed, KernelNotFound
from backendai.agent.files import KernelFiles
from backendai.agent.layout import (
    CONTAINER_HOME,
    CONTAINER_IPC,
    CONTAINER_RUNNER,
    LABEL_AGENT_PORTS,
    LABEL_SERVICE_PORTS,
    LABEL_SLOTS,
    KernelPaths,
    install_runner,
    kernel_paths,
)
from backendai.agent.resources import Capacity, CoreAllocator, cores_needed
from backendai.agent.runner_link import probe
from backendai.agent.settings import AgentSettings
from backendai.agent.spec import build_spec, parse_service_ports
from backendai.common.agent_protocol import (
    LABEL_AGENT_ID,
    LABEL_KERNEL_ID,
    LABEL_SESSION_ID,
    ContainerInfo,
    ContainerState,
    DestroyResult,
    KernelCreated,
    KernelCreateRequest,
    MountSpec,
    ServicePort,
)
from backendai.common.errors import PlatformError

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

    def with_host_ports(self, ports: dict[int, int]) -> None:
        for sp in self.service_ports:
            sp.host_ports = [ports[p] for p in sp.container_ports if p in ports]

    def created(self) -> KernelCreated:
        return KernelCreated(
            kernel_id=self.kernel_id,
            container_id=self.container_id,
            service_ports=self.service_ports,
            occupied_slots=self.slots,
        )


class KernelRegistry:
    def __init__(
        self, settings: AgentSettings, backend: ContainerBackend, capacity: Capacity
    ) -> None:
        self.settings, self.backend = settings, backend
        self.kernels: dict[uuid.UUID, Kernel] = {}
        self.cores = CoreAllocator(capacity.cores)
        # Kernels being destroyed or restarted: their containers' exits are our doing.
        self.quiet: set[uuid.UUID] = set()
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}
        self.runner_dir = install_runner(settings.data_dir)

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

    async def _find(self, kernel_id: uuid.UUID) -> list[ContainerRecord]:
        labels = {LABEL_AGENT_ID: self.settings.id, LABEL_KERNEL_ID: str(kernel_id)}
        return await self.backend.list_containers(labels)

    # --- create ------------------------------------------------------------------------------

    async def create(self, req: KernelCreateRequest) -> KernelCreated:
        async with self._lock(req.kernel_id):
            found = await self._find(req.kernel_id)
            if found:
                return await self._resume(found[0])
            return await self._create(req)

    async def _resume(self, record: ContainerRecord) -> KernelCreated:
        """A create retried for a container that exists: finish what the first one began."""
        kernel = self.kernels.get(_kernel_id(record)) or self._adopt(
            await self.backend.inspect(record.id)
        )
        if record.state is ContainerState.CREATED:
            await self.backend.start(record.id)
        if record.state in (ContainerState.CREATED, ContainerState.RUNNING):
            await self._wait_ready(kernel)
            kernel.with_host_ports((await self.backend.inspect(record.id)).ports)
        return kernel.created()

    async def _create(self, req: KernelCreateRequest) -> KernelCreated:
        s = self.settings
        image_labels = await self.backend.image_labels(req.image)
        service_ports = parse_service_ports(
            image_labels.get(LABEL_SERVICE_PORTS, ""), req.preopen_ports
        )
        cpu = Decimal(req.slots.get("cpu", "1"))
        uid = s.uid if req.uid is None else req.uid
        paths = kernel_paths(s.data_dir, req.kernel_id)
        await asyncio.to_thread(paths.prepare, uid, s.gid)
        mounts = [
            MountSpec(host_path=str(paths.home), container_path=str(CONTAINER_HOME)),
            MountSpec(host_path=str(paths.ipc), container_path=str(CONTAINER_IPC)),
            MountSpec(
                host_path=str(self.runner_dir), container_path=str(CONTAINER_RUNNER), read_only=True
            ),
            *req.mounts,
        ]
        cores = self.cores.allocate(req.kernel_id, min(cores_needed(cpu), len(self.cores.cores)))
        spec = build_spec(s, req, mounts, cores, service_ports)
        container_id = None
        try:
            container_id = await self.backend.create(spec)
            kernel = Kernel(
                req.kernel_id, req.session_id, container_id, paths, req.slots, mounts, service_ports
            )
            self.kernels[req.kernel_id] = kernel
            await self.backend.start(container_id)
            await self._wait_ready(kernel)
            kernel.with_host_ports((await self.backend.inspect(container_id)).ports)
            if req.bootstrap_script:
                await self._bootstrap(kernel, req.bootstrap_script, f"{uid}:{s.gid}")
        except BaseException as e:
            await asyncio.shield(self._discard(req.kernel_id, container_id, paths))
            if isinstance(e, PlatformError | asyncio.CancelledError):
                raise
            raise KernelCreationFailed(f"The kernel could not be started: {e!r}") from e
        log.info("kernel %s started in container %s", req.kernel_id, container_id[:12])
        return kernel.created()

    async def _wait_ready(self, kernel: Kernel) -> None:
        """Until the runner answers on its socket; fail early if the container dies."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.ready_timeout
        next_check = loop.time() + 0.25
        while not await probe(kernel.paths.socket):
            now = loop.time()
            if now > deadline:
                raise KernelCreationFailed(
                    f"The kernel was not ready after {self.settings.ready_timeout:.0f} s."
                )
            if now > next_check:
                next_check = now + 0.25
                record = await self.backend.inspect(kernel.container_id)
                if record.state is not ContainerState.RUNNING:
                    tail = (await self.backend.logs(kernel.container_id))[-2000:]
                    raise KernelCreationFailed(
                        f"The container exited (code {record.exit_code}) before it was ready. "
                        f"Its log ends with:\n{tail}"
                    )
            await asyncio.sleep(0.005)

    async def _bootstrap(self, kernel: Kernel, script: str, user: str) -> None:
        output = bytearray()
        code = await self.backend.exec_stream(
            kernel.container_id,
            ["/bin/sh", "-c", script],
            user=user,
            on_output=lambda _, data: output.extend(data[: 65536 - len(output)]),
        )
        if code != 0:  # as in Backend.AI, a failing bootstrap script does not stop the kernel
            log.warning("bootstrap of kernel %s exited %d: %s", kernel.kernel_id, code, output)

    async def _discard(
        self, kernel_id: uuid.UUID, container_id: str | None, paths: KernelPaths
    ) -> None:
        self.quiet.add(kernel_id)
        try:
            if container_id is not None:
                with contextlib.suppress(PlatformError):
                    await self.backend.destroy(container_id)
            self.kernels.pop(kernel_id, None)
            self.cores.release(kernel_id)
            await asyncio.to_thread(shutil.rmtree, paths.root, True)
        finally:
            self.quiet.discard(kernel_id)

    # --- destroy, restart, adopt, list -------------------------------------------------------

    async def destroy(self, kernel_id: uuid.UUID) -> DestroyResult:
        """Idempotent: destroying a kernel that is not here returns an empty result."""
        paths = kernel_paths(self.settings.data_dir, kernel_id)
        async with self._lock(kernel_id):
            last_stat, container_log = None, None
            for record in await self._find(kernel_id):
                if record.state is ContainerState.RUNNING:
                    with contextlib.suppress(PlatformError):
                        last_stat = await self.backend.stats(record.id)
                with contextlib.suppress(PlatformError):
                    container_log = (await self.backend.logs(record.id))[-LOG_KEEP:]
                self.quiet.add(kernel_id)  # its exit is our doing, not news for the manager
                await self.backend.destroy(record.id)
            await self._discard(kernel_id, None, paths)
        self._locks.pop(kernel_id, None)
        return DestroyResult(kernel_id=kernel_id, last_stat=last_stat, container_log=container_log)

    async def restart(self, kernel_id: uuid.UUID) -> KernelCreated:
        """A new runner (fresh interpreter) in the same container; files in /home/work stay."""
        async with self._lock(kernel_id):
            kernel = self.get(kernel_id)
            self.quiet.add(kernel_id)
            try:
                await self.backend.stop(kernel.container_id, grace=5.0)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(kernel.paths.socket)  # so the probe waits for the new runner
                await self.backend.start(kernel.container_id)
                await self._wait_ready(kernel)
                kernel.with_host_ports((await self.backend.inspect(kernel.container_id)).ports)
            finally:
                self.quiet.discard(kernel_id)
        return kernel.created()

    async def adopt_all(self) -> list[Kernel]:
        """Take back the containers labelled with our agent id (after an agent restart)."""
        adopted = []
        for record in await self.backend.list_containers({LABEL_AGENT_ID: self.settings.id}):
            try:
                adopted.append(self._adopt(await self.backend.inspect(record.id)))
            except (KeyError, ValueError) as e:
                log.warning("cannot adopt container %s (bad labels: %s)", record.id[:12], e)
        if adopted:
            log.info("re-adopted %d kernel(s)", len(adopted))
        return adopted

    def _adopt(self, record: ContainerRecord) -> Kernel:
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
        )
        kernel.with_host_ports(record.ports)
        self.cores.adopt(kernel_id, record.cpuset)
        self.kernels[kernel_id] = kernel
        return kernel

    async def container_infos(self) -> list[ContainerInfo]:
        records = await self.backend.list_containers({LABEL_AGENT_ID: self.settings.id})
        return [
            ContainerInfo(
                kernel_id=_kernel_id(r),
                session_id=uuid.UUID(r.labels[LABEL_SESSION_ID]),
                container_id=r.id,
                state=r.state,
                exit_code=r.exit_code,
                oom_killed=r.oom_killed,
                started_at=r.started_at,
            )
            for r in records
            if LABEL_KERNEL_ID in r.labels and LABEL_SESSION_ID in r.labels
        ]


def _kernel_id(record: ContainerRecord) -> uuid.UUID:
    return uuid.UUID(record.labels[LABEL_KERNEL_ID])
