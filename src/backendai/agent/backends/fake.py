"""An in-memory container backend for tests, with slow and failing variants.

``FakeBackend`` keeps containers in a dict. When it starts one whose spec mounts the runner (as
the agent's specs do), it runs the real runner on the host as a subprocess, with the spec's
host directories in place of the container paths, so code execution works end to end without
Docker. Tests drive failures with ``crash()``. Networks are kept like Docker keeps them: a name
is unique, subnets never overlap, a network with a running container cannot be removed, and a
container on a network that does not exist cannot start; ``steal_subnets`` plays another agent
taking the subnet a create asks for at that very moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from backendai.agent.backends.protocol import (
    ContainerEvent,
    ContainerRecord,
    ContainerSpec,
    Limits,
    NetworkRecord,
    NetworkSpec,
    OutputCallback,
    Stats,
)
from backendai.agent.errors import BackendError, ContainerNotFound, NetworkExists, SubnetTaken
from backendai.agent.layout import CONTAINER_HOME, CONTAINER_IPC, CONTAINER_RUNNER, RUNNER_SOCKET
from backendai.common.agent_protocol import ContainerState, ImageInfo
from backendai.common.errors import ImageNotFound
from backendai.common.image_labels import LABEL_KERNELSPEC, LABEL_SERVICE_PORTS

log = logging.getLogger(__name__)
KILL_WAIT_S = 10.0

DEFAULT_IMAGES = {
    "backendai/python:3.11-debian12": {
        LABEL_KERNELSPEC: "1",
        LABEL_SERVICE_PORTS: "ttyd:http:7681,sshd:tcp:2200",
    }
}


@dataclass
class FakeContainer:
    spec: ContainerSpec
    id: str
    state: ContainerState = ContainerState.CREATED
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: datetime | None = None
    process: asyncio.subprocess.Process | None = None
    log: bytearray = field(default_factory=bytearray)
    archives: dict[str, bytes] = field(default_factory=dict)
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    def host_path(self, container_path: object) -> Path | None:
        for mount in self.spec.mounts:
            if mount.container_path == str(container_path):
                return Path(mount.host_path)
        return None


@dataclass
class FakeNetwork:
    id: str
    spec: NetworkSpec

    def record(self) -> NetworkRecord:
        spec = self.spec
        return NetworkRecord(self.id, spec.name, dict(spec.labels), [spec.subnet])


class FakeBackend:
    bridges_on_host = False  # no host bridges: the host firewall has nothing to do

    def __init__(
        self, images: Mapping[str, Mapping[str, str]] | None = None, *, run_runner: bool = True
    ) -> None:
        self.image_table = {k: dict(v) for k, v in (images or DEFAULT_IMAGES).items()}
        self.run_runner = run_runner
        self.containers: dict[str, FakeContainer] = {}
        self.networks: dict[str, FakeNetwork] = {}  # by id
        # Test helper: the next this many network creates find their subnet taken by another
        # agent's network made at that very moment.
        self.steal_subnets = 0
        self.network_creates = 0  # create_network calls, refused ones included
        self.exec_calls: list[tuple[str, list[str], str | None]] = []
        self._subscribers: list[asyncio.Queue[ContainerEvent | None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def _get(self, container_id: str) -> FakeContainer:
        try:
            return self.containers[container_id]
        except KeyError:
            raise ContainerNotFound(f"No container {container_id}.") from None

    def _emit(self, container: FakeContainer, action: str) -> None:
        event = ContainerEvent(
            container_id=container.id,
            action="oom" if action == "oom" else "die",
            labels=container.spec.labels,
            exit_code=container.exit_code,
        )
        for queue in self._subscribers:
            queue.put_nowait(event)

    async def create(self, spec: ContainerSpec) -> str:
        if spec.image not in self.image_table:
            raise ImageNotFound(f"The image {spec.image} is not on this agent.")
        if any(c.spec.name == spec.name for c in self.containers.values()):
            raise BackendError(f"Conflict: the container name {spec.name} is in use.")
        container = FakeContainer(spec=spec, id=uuid.uuid4().hex + uuid.uuid4().hex)
        self.containers[container.id] = container
        return container.id

    async def start(self, container_id: str) -> None:
        container = self._get(container_id)
        if container.spec.network is not None and self._network(container.spec.network) is None:
            raise BackendError(f"network {container.spec.network} not found")
        container.state, container.started_at = ContainerState.RUNNING, datetime.now(UTC)
        container.exit_code, container.exited = None, asyncio.Event()
        runner, home = container.host_path(CONTAINER_RUNNER), container.host_path(CONTAINER_HOME)
        ipc = container.host_path(CONTAINER_IPC)
        if self.run_runner and runner and home and ipc:
            container.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "runner", "--socket", str(ipc / RUNNER_SOCKET),
                "--workdir", str(home), "--skel", "/nonexistent",
                cwd=runner.parent,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            task = asyncio.create_task(self._watch(container, container.process))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _watch(self, container: FakeContainer, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            container.log += chunk
        code = await process.wait()
        if container.process is process and container.state is ContainerState.RUNNING:
            self._exited(container, 128 - code if code < 0 else code)

    def _exited(self, container: FakeContainer, code: int) -> None:
        container.state, container.exit_code, container.process = ContainerState.EXITED, code, None
        container.exited.set()
        self._emit(container, "die")

    async def _kill(self, container: FakeContainer) -> None:
        process, container.process = container.process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            # Bounded: a CI run once waited here for good (the child never reported its
            # exit), which hung the test that closed the backend until its 300-s timeout.
            try:
                async with asyncio.timeout(KILL_WAIT_S):
                    await process.wait()
            except TimeoutError:
                log.warning("runner process %s did not exit after SIGKILL", process.pid)

    def crash(self, container_id: str, exit_code: int = 1, *, oom: bool = False) -> None:
        """Test helper: the container dies on its own (an OOM kill when ``oom``)."""
        container = self._get(container_id)
        if container.process is not None and container.process.returncode is None:
            container.process.kill()
        container.process = None
        container.oom_killed = oom
        if oom:
            self._emit(container, "oom")
        self._exited(container, exit_code)

    def oom_event(self, container_id: str) -> None:
        """Test helper: the engine reports an OOM kill inside a container that keeps running
        (the victim was not its main process)."""
        self._emit(self._get(container_id), "oom")

    async def stop(self, container_id: str, grace: float = 10.0) -> None:
        container = self._get(container_id)
        await self._kill(container)
        if container.state is ContainerState.RUNNING:
            self._exited(container, 0)

    async def destroy(self, container_id: str) -> None:
        container = self.containers.pop(container_id, None)
        if container is not None:
            await self._kill(container)
            if container.state is ContainerState.RUNNING:
                self._exited(container, 137)

    async def update_limits(self, container_id: str, limits: Limits) -> None:
        container = self._get(container_id)
        if container.state is not ContainerState.RUNNING:
            raise BackendError("The container is not running.")
        container.spec = dataclasses.replace(
            container.spec,
            cpu=limits.cpu,
            cpuset=list(limits.cpuset),
            memory=limits.memory,
            pids_limit=limits.pids_limit,
        )

    async def inspect(self, container_id: str) -> ContainerRecord:
        c = self._get(container_id)
        running = c.state is ContainerState.RUNNING
        ports = {p: 30000 + p % 1000 for p in c.spec.ports} if running else {}
        networks = {}
        if c.spec.network is not None:
            networks[c.spec.network] = self._address(c) if running else ""
        return ContainerRecord(
            id=c.id,
            name=c.spec.name,
            labels=dict(c.spec.labels),
            state=c.state,
            exit_code=c.exit_code,
            oom_killed=c.oom_killed,
            started_at=c.started_at,
            cpuset=list(c.spec.cpuset),
            memory=c.spec.memory,
            mounts=list(c.spec.mounts),
            ports=ports,
            networks=networks,
        )

    def _address(self, container: FakeContainer) -> str:
        network = self._network(container.spec.network or "")
        if network is None:
            return ""
        members = [c.id for c in self.containers.values() if c.spec.network == network.spec.name]
        subnet = ipaddress.ip_network(network.spec.subnet)
        return str(subnet.network_address + 2 + members.index(container.id))

    async def list_containers(self, labels: Mapping[str, str]) -> list[ContainerRecord]:
        return [
            await self.inspect(c.id)
            for c in list(self.containers.values())
            if all(c.spec.labels.get(k) == v for k, v in labels.items())
        ]

    async def stats(self, container_id: str) -> Stats:
        c = self._get(container_id)
        return {
            "cpu_used": {"current": "10", "capacity": None, "unit_hint": "msec"},
            "mem": {
                "current": "1048576",
                "capacity": str(c.spec.memory) if c.spec.memory else None,
                "unit_hint": "bytes",
            },
        }

    async def open_pty(
        self, container_id: str, argv: list[str], *, user: str, workdir: str, env: list[str]
    ) -> FakePty:
        if self._get(container_id).state is not ContainerState.RUNNING:
            raise BackendError("The container is not running.")
        self.exec_calls.append((container_id, list(argv), user))
        return FakePty()

    async def exec_stream(
        self,
        container_id: str,
        argv: list[str],
        *,
        user: str | None = None,
        on_output: OutputCallback | None = None,
    ) -> int:
        if self._get(container_id).state is not ContainerState.RUNNING:
            raise BackendError("The container is not running.")
        self.exec_calls.append((container_id, list(argv), user))
        return 0

    async def logs(self, container_id: str) -> str:
        return self._get(container_id).log.decode(errors="replace")

    async def put_archive(self, container_id: str, path: str, data: bytes) -> None:
        self._get(container_id).archives[path] = data

    async def get_archive(self, container_id: str, path: str) -> bytes:
        try:
            return self._get(container_id).archives[path]
        except KeyError:
            raise ContainerNotFound(f"No file {path} in the container.") from None

    async def wait(self, container_id: str) -> int:
        container = self._get(container_id)
        await container.exited.wait()
        return container.exit_code if container.exit_code is not None else -1

    async def events(self, labels: Mapping[str, str]) -> AsyncIterator[ContainerEvent]:
        queue: asyncio.Queue[ContainerEvent | None] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            while (event := await queue.get()) is not None:
                if all(event.labels.get(k) == v for k, v in labels.items()):
                    yield event
        finally:
            self._subscribers.remove(queue)

    def break_event_streams(self) -> None:
        """Test helper: every events() stream ends, as when the engine restarts."""
        for queue in self._subscribers:
            queue.put_nowait(None)

    async def images(self) -> list[ImageInfo]:
        return [
            ImageInfo(name=name, digest=f"sha256:{name}", size_bytes=1, labels=labels)
            for name, labels in self.image_table.items()
        ]

    async def image_labels(self, image: str) -> dict[str, str]:
        if image not in self.image_table:
            raise ImageNotFound(f"The image {image} is not on this agent.")
        return dict(self.image_table[image])

    async def commit(self, container_id: str, image: str, labels: Mapping[str, str]) -> ImageInfo:
        container = self._get(container_id)
        source = self.image_table.get(container.spec.image, {})
        self.image_table[image] = dict(source) | dict(labels)
        return ImageInfo(
            name=image, digest=f"sha256:{image}", size_bytes=1, labels=self.image_table[image]
        )

    async def remove_image(self, image: str) -> None:
        self.image_table.pop(image, None)

    def _network(self, name: str) -> FakeNetwork | None:
        return self.networks.get(name) or next(
            (n for n in self.networks.values() if n.spec.name == name), None
        )

    def network_of(self, container_id: str) -> FakeNetwork | None:
        """Test helper: the network a container is on."""
        return self._network(self._get(container_id).spec.network or "")

    async def create_network(self, spec: NetworkSpec) -> str:
        self.network_creates += 1
        subnet = ipaddress.ip_network(spec.subnet)
        if self.steal_subnets > 0:
            self.steal_subnets -= 1
            thief = dataclasses.replace(
                spec, name=f"other-{uuid.uuid4().hex[:8]}", bridge=f"o{uuid.uuid4().hex[:8]}",
                labels={"thief": "1"},
            )  # fmt: skip
            thief_id = uuid.uuid4().hex
            self.networks[thief_id] = FakeNetwork(thief_id, thief)
        if self._network(spec.name) is not None:
            raise NetworkExists(f"network with name {spec.name} already exists")
        for network in self.networks.values():
            if ipaddress.ip_network(network.spec.subnet).overlaps(subnet):
                raise SubnetTaken("Pool overlaps with other one on this address space")
            if network.spec.bridge == spec.bridge:
                raise SubnetTaken("networks have same bridge name")
        network_id = uuid.uuid4().hex + uuid.uuid4().hex
        self.networks[network_id] = FakeNetwork(network_id, spec)
        return network_id

    async def remove_network(self, name: str) -> None:
        network = self._network(name)
        if network is None:
            return
        for container in self.containers.values():
            if container.spec.network in (network.id, network.spec.name) and (
                container.state is ContainerState.RUNNING
            ):
                raise BackendError(f"network {name} has active endpoints")
        self.networks.pop(network.id, None)

    async def list_networks(self, labels: Mapping[str, str]) -> list[NetworkRecord]:
        return [
            n.record()
            for n in self.networks.values()
            if all(n.spec.labels.get(k) == v for k, v in labels.items())
        ]

    async def close(self) -> None:
        for container in list(self.containers.values()):
            await self._kill(container)


class SlowBackend(FakeBackend):
    """Every create and start takes ``delay`` seconds (for timeouts and concurrent requests)."""

    def __init__(self, delay: float = 0.5) -> None:
        super().__init__()
        self.delay = delay

    async def create(self, spec: ContainerSpec) -> str:
        await asyncio.sleep(self.delay)
        return await super().create(spec)

    async def start(self, container_id: str) -> None:
        await asyncio.sleep(self.delay)
        await super().start(container_id)

    async def create_network(self, spec: NetworkSpec) -> str:
        await asyncio.sleep(self.delay)
        return await super().create_network(spec)


class FailingBackend(FakeBackend):
    """The operations named in ``fail_on`` (``create``, ``start``, ...) raise BackendError."""

    def __init__(self, fail_on: set[str] | frozenset[str] = frozenset({"start"})) -> None:
        super().__init__()
        self.fail_on = set(fail_on)

    def _check(self, operation: str) -> None:
        if operation in self.fail_on:
            raise BackendError(f"The engine failed to {operation} (FailingBackend).")

    async def create(self, spec: ContainerSpec) -> str:
        self._check("create")
        return await super().create(spec)

    async def start(self, container_id: str) -> None:
        self._check("start")
        await super().start(container_id)

    async def destroy(self, container_id: str) -> None:
        self._check("destroy")
        await super().destroy(container_id)

    async def update_limits(self, container_id: str, limits: Limits) -> None:
        self._check("update_limits")
        await super().update_limits(container_id, limits)

    async def create_network(self, spec: NetworkSpec) -> str:
        self._check("create_network")
        return await super().create_network(spec)

    async def remove_network(self, name: str) -> None:
        self._check("remove_network")
        await super().remove_network(name)


class FakePty:
    """Echoes what is typed, and reports resizes, like a terminal running ``cat``."""

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []
        self._out: asyncio.Queue[bytes | None] = asyncio.Queue()

    async def read(self) -> bytes | None:
        return await self._out.get()

    async def write(self, data: bytes) -> None:
        await self._out.put(data)

    async def resize(self, rows: int, cols: int) -> None:
        self.sizes.append((rows, cols))
        await self._out.put(f"[{rows}x{cols}]".encode())

    async def close(self) -> None:
        await self._out.put(None)
