"""The narrow interface between the agent and a container engine.

The agent decides everything (cores, paths, limits, labels) and hands a backend a complete
``ContainerSpec``; a backend only carries it out and reports what the engine says. Backends:
``docker`` (the Docker Engine API through aiodocker) and ``fake`` (in memory, for tests).

Networks: every session's containers sit on a network of their own (a bridge on the engine's
host), made and removed by the agent (``networks.py``) with a subnet the agent chose.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from backendai.common.agent_protocol import ContainerState, ImageInfo, MountSpec


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    command: list[str]  # replaces the image's entrypoint and command
    env: dict[str, str]
    labels: dict[str, str]
    user: str  # "uid:gid"
    workdir: str
    mounts: list[MountSpec]  # bind mounts; every host path exists
    cpu: Decimal  # CPU time quota in cores (may be fractional)
    cpuset: list[int]
    memory: int | None  # bytes of memory (swap included); None: no limit
    shm_size: int
    pids_limit: int
    ports: list[int] = field(default_factory=list)  # container TCP ports to publish
    port_bind_host: str = "127.0.0.1"
    network: str | None = None  # the name of the network to join; None: the engine's default


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    subnet: str  # "10.213.4.16/28"
    gateway: str  # the host's address on the network
    bridge: str  # the name of the bridge interface on the host (the firewall matches it)
    labels: dict[str, str]


@dataclass(frozen=True)
class NetworkRecord:
    id: str
    name: str
    labels: Mapping[str, str]
    subnets: list[str]  # IPv4 subnets in CIDR form (empty for networks without any)


@dataclass(frozen=True)
class Limits:
    """The limits of a running container that can change in place (a claimed pool container).

    /dev/shm's size cannot: it is fixed when the container is created."""

    cpu: Decimal
    cpuset: list[int]
    memory: int  # bytes, swap included
    pids_limit: int


@dataclass(frozen=True)
class ContainerRecord:
    """What the engine knows of a container. Listing may leave the optional parts empty."""

    id: str
    name: str
    labels: Mapping[str, str]
    state: ContainerState
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: datetime | None = None
    cpuset: list[int] = field(default_factory=list)
    memory: int | None = None
    mounts: list[MountSpec] = field(default_factory=list)
    ports: dict[int, int] = field(default_factory=dict)  # container port -> host port
    networks: dict[str, str] = field(default_factory=dict)  # network name -> address ("": none)


@dataclass(frozen=True)
class ContainerEvent:
    container_id: str
    action: Literal["die", "oom"]
    labels: Mapping[str, str]
    exit_code: int | None = None


# stats(): Backend.AI's last_stat shape, {"cpu_used": {"current": ..., "unit_hint": ...}, ...}.
Stats = dict[str, dict[str, str | None]]
OutputCallback = Callable[[str, bytes], None]  # ("stdout" | "stderr", data)


class PtyStream(Protocol):
    """A process on a pseudo-terminal inside a container (the session's terminal)."""

    async def read(self) -> bytes | None:
        """The next output bytes; None once the process has ended."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def resize(self, rows: int, cols: int) -> None: ...

    async def close(self) -> None: ...


class ContainerBackend(Protocol):
    # Whether the engine's networks are bridges of this very host, so that the host firewall
    # (``firewall.py``) is what isolates them: false for a remote engine and the fake.
    bridges_on_host: bool

    async def create(self, spec: ContainerSpec) -> str:
        """Create (not start) the container; its id. ImageNotFound if the image is absent."""
        ...

    async def start(self, container_id: str) -> None: ...

    async def stop(self, container_id: str, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; the container is kept."""
        ...

    async def destroy(self, container_id: str) -> None:
        """Kill and remove; a container that is already gone is no error."""
        ...

    async def update_limits(self, container_id: str, limits: Limits) -> None:
        """Apply new CPU (quota and cpuset), memory (swap included) and process limits."""
        ...

    async def inspect(self, container_id: str) -> ContainerRecord:
        """Everything about one container; ContainerNotFound if there is none."""
        ...

    async def list_containers(self, labels: Mapping[str, str]) -> list[ContainerRecord]:
        """Containers (any state) carrying all of ``labels``."""
        ...

    async def stats(self, container_id: str) -> Stats: ...

    async def exec_stream(
        self,
        container_id: str,
        argv: list[str],
        *,
        user: str | None = None,
        on_output: OutputCallback | None = None,
    ) -> int:
        """Run a command in the running container, streaming its output; its exit code."""
        ...

    async def open_pty(
        self, container_id: str, argv: list[str], *, user: str, workdir: str, env: list[str]
    ) -> PtyStream:
        """Start ``argv`` on a new pseudo-terminal in the running container."""
        ...

    async def logs(self, container_id: str) -> str: ...

    async def put_archive(self, container_id: str, path: str, data: bytes) -> None:
        """Extract a tar archive into a directory of the container."""
        ...

    async def get_archive(self, container_id: str, path: str) -> bytes:
        """A tar archive of a file or directory of the container."""
        ...

    async def wait(self, container_id: str) -> int:
        """Wait until the container stops; its exit code."""
        ...

    def events(self, labels: Mapping[str, str]) -> AsyncIterator[ContainerEvent]:
        """Die and OOM events of containers carrying ``labels``, until the stream breaks."""
        ...

    async def images(self) -> list[ImageInfo]:
        """Images that can run kernels (those with the ai.backend.kernelspec label)."""
        ...

    async def image_labels(self, image: str) -> dict[str, str]:
        """An image's labels; ImageNotFound if it is not present."""
        ...

    async def commit(self, container_id: str, image: str, labels: Mapping[str, str]) -> ImageInfo:
        """Snapshot the container's filesystem (bind mounts left out) as ``image``
        (repository:tag), configured as the image the container was made from plus ``labels``;
        the container's own labels and environment are not carried over."""
        ...

    async def remove_image(self, image: str) -> None:
        """Untag and remove an image; one that is already gone is no error."""
        ...

    async def create_network(self, spec: NetworkSpec) -> str:
        """Create a bridge network with exactly ``spec``'s subnet and bridge name; its id.
        SubnetTaken if the subnet overlaps another network's (or the bridge name is in use),
        NetworkExists if the name is."""
        ...

    async def remove_network(self, name: str) -> None:
        """Remove a network (by name or id); one that is already gone is no error."""
        ...

    async def list_networks(self, labels: Mapping[str, str]) -> list[NetworkRecord]:
        """Networks carrying all of ``labels`` (every network when ``labels`` is empty)."""
        ...

    async def close(self) -> None: ...
