"""The agent's settings (``[agent]`` in the TOML file, ``BACKENDAI_AGENT_*``)."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from backendai.common.batch_tasks import TASK_LOG_LIMIT
from backendai.common.settings import ProcessSettings

WORK_UID = 65000  # images/python/Dockerfile's WORK_UID


def _default_id() -> str:
    return f"i-{socket.gethostname()}"


class AgentSettings(ProcessSettings):
    section: ClassVar[str] = "agent"

    id: str = Field(
        default_factory=_default_id,
        min_length=1,
        description="This agent's id, stable across restarts (it labels the containers).",
    )
    host: str = Field(default="127.0.0.1", description="Address the agent API listens on.")
    port: int = Field(default=6001, ge=0, le=65535, description="Port the agent API listens on.")
    public_addr: str | None = Field(
        default=None,
        description="Base URL the manager uses to reach this agent. Default: http://HOST:PORT.",
    )
    manager_url: str | None = Field(
        default="http://127.0.0.1:8081",
        description="Base URL of the manager's internal API; none: report nothing (tests).",
    )
    token: str = Field(
        min_length=16,
        description="Shared secret with the manager (header X-BackendAI-Agent-Token).",
    )
    scaling_group: str = Field(default="default", description="The resource group it serves.")
    region: str = Field(default="local", description="Region reported to the manager.")
    data_dir: Path = Field(
        default=Path.home() / ".local/share/backendai/agent",
        description="Per-kernel home and IPC directories and the runner live here.",
    )
    # 65000-65533 are reserved in Debian's uid policy: no package or admin account takes them,
    # so a session's files on the host belong to nobody who could log in.
    uid: int = Field(
        default=WORK_UID,
        ge=1,
        description=(
            "uid of the container user (work); the local images are built with it. Choose one "
            "that no host account uses: files in session homes belong to it on the host."
        ),
    )
    gid: int = Field(default=WORK_UID, ge=1, description="gid of the container user (work).")
    volume_mounts: dict[str, Path] = Field(
        default_factory=dict,
        description=(
            "Where this node sees each storage volume (vfolder host) named by the manager, "
            'e.g. {local = "/mnt/vfolders/local"}: the storage process\'s volume path, or '
            "the NFS mount of it. A session that mounts a folder of a volume not listed here "
            "fails to start with that reason."
        ),
    )
    heartbeat_interval: float = Field(
        default=3.0, gt=0, description="Seconds between heartbeats to the manager."
    )
    reserved_cpu: int = Field(
        default=0, ge=0, description="Cores kept for the host: never offered, never in a cpuset."
    )
    reserved_mem: int = Field(default=0, ge=0, description="Bytes of memory kept for the host.")
    cpu: int | None = Field(
        default=None, gt=0, description="Cores to offer instead of the detected ones."
    )
    mem: int | None = Field(
        default=None, gt=0, description="Bytes of memory to offer instead of the detected ones."
    )
    backend: Literal["docker", "fake"] = Field(
        default="docker", description="docker (the Docker Engine API) or fake (tests only)."
    )
    docker_url: str | None = Field(
        default=None, description="Docker Engine API URL. Default: DOCKER_HOST or the socket."
    )
    port_bind_host: str = Field(
        default="127.0.0.1",
        description="Deprecated and unused: no port of a session is published on the host any "
        "more (apps are reached through the agent's tunnel); still accepted so that existing "
        "configuration files load.",
    )
    pids_limit: int = Field(default=4096, gt=0, description="Process limit of each container.")
    default_shmem: int = Field(
        default=64 * 2**20, gt=0, description="/dev/shm size when a session asks for none."
    )
    ready_timeout: float = Field(
        default=60.0, gt=0, description="Seconds a new container may take to become ready."
    )
    bootstrap_timeout: float = Field(
        default=600.0,
        gt=0,
        description="Seconds a session's bootstrap script may run before its creation fails.",
    )
    task_log_limit: int = Field(
        default=TASK_LOG_LIMIT,
        ge=4096,
        description="Bytes of a batch task's output kept in its task log; the rest is counted "
        "and dropped.",
    )
    file_op_timeout: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds one file operation of a session (a listing, sizing a download, one chunk "
            "of a download or upload) may take, waiting for its turn included; past it the "
            "request fails with a file-operation-timeout error."
        ),
    )
    file_workers: int = Field(
        default=16,
        ge=2,
        le=256,
        description="Threads that do sessions' file work (listings, uploads, downloads).",
    )
    file_ops_per_kernel: int = Field(
        default=4,
        ge=1,
        description=(
            "File operations of one session that run at once; the rest wait their turn. "
            "Smaller than file_workers, so that one session never takes every thread."
        ),
    )
    download_max_size: int = Field(
        default=2 * 2**30,
        gt=0,
        description=(
            "Bytes a download may come to (tar archives of the files at their apparent size: "
            "a sparse file counts in full); a larger one is refused before anything is sent."
        ),
    )
    list_max_entries: int = Field(
        default=10_000,
        gt=0,
        description="Entries a directory listing returns at most (the first ones by name).",
    )
    app_handoff: bool = Field(
        default=True,
        description=(
            "Hand apps' connections to app proxies on this host as descriptors, over the unix "
            "socket app-handoff.sock in the data dir (mode 0600), so that a browser's bytes are "
            "relayed once (by the proxy) rather than twice; proxies elsewhere use the tunnel."
        ),
    )
    pool_size: int = Field(
        default=2,
        ge=0,
        le=16,
        description=(
            "Prepared containers (runner ready) kept running per pool image, so that a new "
            "session of that image starts at once; 0 disables the warm pool."
        ),
    )
    pool_images: list[str] | None = Field(
        default=None,
        description=(
            "Full names of the images to keep prepared containers of. Default: the newest "
            "tag of each of the python and python-jupyter images this agent has (what the "
            "aliases python and python-jupyter name)."
        ),
    )

    mock_cuda_devices: int = Field(
        default=0,
        ge=0,
        le=64,
        description=(
            "Fake CUDA devices the mock cuda plugin offers (cuda.device and fractional "
            "cuda.shares, 1 share = 1 device), for testing GPU scheduling on machines without "
            "GPUs; containers are told what they got in MOCK_CUDA_* variables. 0: off."
        ),
    )
    mock_cuda_memory: int = Field(
        default=16 * 2**30, gt=0, description="Bytes of memory of each fake CUDA device."
    )

    @field_validator("file_ops_per_kernel")
    @classmethod
    def _below_workers(cls, v: int, info: ValidationInfo) -> int:
        workers = info.data.get("file_workers")
        if workers is not None and v >= workers:
            raise ValueError(f"must be smaller than file_workers ({workers})")
        return v

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def addr(self) -> str:
        return self.public_addr or f"http://{self.host}:{self.port}"

    @property
    def app_handoff_socket(self) -> Path:
        return self.data_dir / "app-handoff.sock"

    # Session networks (networks.py, firewall.py).
    network_pool: ipaddress.IPv4Network = Field(
        default=ipaddress.IPv4Network("10.213.0.0/16"),
        description=(
            "IPv4 range that each session's own network takes its subnet from (one subnet of "
            "network_prefix per session and per warm pool container). Choose one that neither "
            "the host's networks nor Docker's default address pools use."
        ),
    )
    network_prefix: int = Field(
        default=28,
        ge=8,
        le=29,
        description=(
            "Prefix length of each session's subnet: /28 holds 13 containers (the gateway, "
            "the network and broadcast addresses take three)."
        ),
    )
    outbound_access: bool = Field(
        default=True,
        description=(
            "Whether sessions reach the outside world (as the host does, name resolution "
            "included); false: a session reaches only its own session's containers."
        ),
    )
    firewall: bool = Field(
        default=True,
        description=(
            "Install the host firewall rules (iptables, needs root) that keep sessions from "
            "the host's addresses and from each other's networks; turn off only where another "
            "firewall does this or the engine is not on this host."
        ),
    )
    network_spares: int = Field(
        default=2,
        ge=0,
        le=16,
        description=(
            "Session networks made ahead of need, so that a session that starts a container "
            "of its own (no warm pool container fits it) does not wait for its network to be "
            "made; each one taken is replaced in the background once no session has started "
            "or ended for half a second. 0: such sessions make their network as they start."
        ),
    )

    @field_validator("network_prefix")
    @classmethod
    def _within_pool(cls, v: int, info: ValidationInfo) -> int:
        pool = info.data.get("network_pool")
        if pool is not None and v < pool.prefixlen:
            raise ValueError(f"must be at least the prefix of network_pool ({pool})")
        return v
