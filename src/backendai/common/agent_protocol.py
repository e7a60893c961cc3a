"""The manager <-> agent wire contract: one pydantic model per payload, defined once.

The manager calls the agent's HTTP API (``/v1/...`` on the agent's address) with the shared
agent token in ``X-BackendAI-Agent-Token``; the agent reports to the manager's internal API
(``/internal/agents/...``) with the same token. Neither process imports the other: both import
these models. Slot values are decimal strings (``"1"``, ``"536870912"``), as everywhere.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from backendai.common.batch_tasks import BatchTask
from backendai.common.devices import DeviceReport

AGENT_TOKEN_HEADER = "X-BackendAI-Agent-Token"

# Labels every container of ours carries, so an agent can tell its own from anything else.
LABEL_KERNEL_ID = "ai.backend.kernel-id"
LABEL_SESSION_ID = "ai.backend.session-id"
LABEL_AGENT_ID = "ai.backend.agent-id"
LABEL_OWNER = "ai.backend.owner"


class MountSpec(BaseModel):
    host_path: str
    container_path: str
    read_only: bool = False


class VFolderMount(BaseModel):
    """A virtual folder to bind-mount: the agent finds it under its own mount of ``volume``
    (``[agent] volume_mounts``) at ``common.storage_protocol.folder_path(vfid)``."""

    name: str = Field(description="The folder's name, for messages (and .ssh handling).")
    volume: str
    vfid: uuid.UUID
    container_path: str = Field(description="Absolute, under /home/work; the manager checked it.")
    read_only: bool = False


class ServicePort(BaseModel):
    """An app inside the container: ``ttyd``/``sshd`` intrinsic ones or from the image label."""

    name: str
    protocol: Literal["http", "tcp", "pty", "preopen"]
    container_ports: list[int]
    host_ports: list[int] = Field(default_factory=list)


class DotfileSpec(BaseModel):
    """A file the agent writes into the new container's home before the session starts."""

    path: str = Field(description="Relative to /home/work; the manager has checked it.")
    data: str
    permission: str = Field(default="644", description="Octal mode, e.g. 644 or 755.")


class KernelCreateRequest(BaseModel):
    kernel_id: uuid.UUID
    session_id: uuid.UUID
    session_name: str
    session_type: Literal["interactive", "batch"] = "interactive"
    image: str = Field(description="The canonical image reference, aliases already resolved.")
    slots: dict[str, str] = Field(description="Allocated slots: cpu (cores), mem (bytes), ...")
    resource_opts: dict[str, str] = Field(
        default_factory=dict, description="shmem (bytes) and other per-session options."
    )
    environ: dict[str, str] = Field(default_factory=dict)
    mounts: list[MountSpec] = Field(default_factory=list)
    vfolders: list[VFolderMount] = Field(
        default_factory=list, description="Virtual folders, the owner's dot-folders included."
    )
    uid: int | None = Field(default=None, description="None: the agent's configured uid.")
    bootstrap_script: str | None = None
    startup_command: str | None = None
    task: BatchTask | None = Field(
        default=None,
        description="A batch session's task, run once after the bootstrap (common.batch_tasks).",
    )
    preopen_ports: list[int] = Field(default_factory=list)
    dotfiles: list[DotfileSpec] = Field(
        default_factory=list, description="The owner's dotfiles: user over group over domain."
    )


class KernelCreated(BaseModel):
    kernel_id: uuid.UUID
    container_id: str
    service_ports: list[ServicePort]
    occupied_slots: dict[str, str]
    attached_devices: dict[str, list[str]] = Field(default_factory=dict)


class ContainerState(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    RESTARTING = "restarting"
    EXITED = "exited"
    DEAD = "dead"


class ContainerInfo(BaseModel):
    kernel_id: uuid.UUID
    session_id: uuid.UUID
    container_id: str
    state: ContainerState
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: datetime | None = None
    task_exit_code: int | None = Field(
        default=None, description="A batch kernel's task exit code, once its task ended."
    )
    stat: dict[str, dict[str, str | None]] | None = Field(
        default=None,
        description="A running kernel's counters now (Backend.AI's live_stat shape, with "
        "cpu_util in percent of one core): what the sessions' lists show as used.",
    )


class ImageInfo(BaseModel):
    name: str = Field(description="Repository and tag, e.g. backendai/python:3.11-debian12.")
    digest: str
    size_bytes: int
    labels: dict[str, str]


# A private image (a session committed to an image) carries its owner's user UUID here; the
# agent sets it on commit, and an image with it is never registered as a public one.
LABEL_IMAGE_OWNER = "ai.backend.image.owner"
# Every private image's name starts with this, then the owner's UUID: no commit can take
# the name of a public image or of another user's.
PRIVATE_IMAGE_PREFIX = "private/"


class CommitRequest(BaseModel):
    """Snapshot a kernel's container as a new image (``/home/work``, a mount, is left out)."""

    image: str = Field(description="The new image's full name, repository:tag.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels added to those of the kernel's image."
    )


class ImageRemoveRequest(BaseModel):
    image: str = Field(description="A private image's full name (only those can be removed).")


class AgentHeartbeat(BaseModel):
    agent_id: str
    addr: str = Field(description="Base URL of the agent's API, e.g. http://127.0.0.1:6001.")
    region: str = "local"
    scaling_group: str = "default"
    version: str
    architecture: str = "x86_64"
    available_slots: dict[str, str]
    compute_plugins: dict[str, DeviceReport] = Field(
        default_factory=dict, description="Each device plugin's devices and what is free on each."
    )
    containers: list[ContainerInfo]
    images: list[ImageInfo]


class KernelEventKind(StrEnum):
    TERMINATED = "kernel_terminated"
    TASK_FINISHED = "kernel_task_finished"  # a batch task ended; exit_code is its code


class KernelEvent(BaseModel):
    """Something the agent saw happen to a container on its own (exit, OOM kill)."""

    agent_id: str
    kernel_id: uuid.UUID
    kind: KernelEventKind
    reason: str = Field(description="Short machine reason: self-terminated, oom-killed, ...")
    exit_code: int | None = None
    message: str = Field(default="", description="What a person reads in ps --detail / info.")


class DownloadRequest(BaseModel):
    files: list[str] = Field(min_length=1, max_length=5)


class ListFilesRequest(BaseModel):
    path: str = "."


class FileEntry(BaseModel):
    filename: str
    size: int
    mode: str
    mtime: float
    ctime: float
    atime: float


class ListFilesResult(BaseModel):
    files: list[FileEntry]
    abspath: str
    errors: str = ""
    note: str = Field(
        default="",
        description="Set when not every entry is listed (a huge directory): what was left out.",
    )


class KernelStats(BaseModel):
    """A running kernel's counters now (Backend.AI's last_stat shape); None if it is not running."""

    kernel_id: uuid.UUID
    last_stat: dict[str, dict[str, str | None]] | None = None


class DestroyResult(BaseModel):
    kernel_id: uuid.UUID
    last_stat: dict[str, dict[str, str | None]] | None = None
    container_log: str | None = None
