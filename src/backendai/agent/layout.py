"""Where things live: host directories per kernel, paths inside containers, agent-only labels.

Host side (under the agent's data dir)::

    runner/<hash>/runner/       the runner package, one copy per version (mounted read-only)
    kernels/<kernel-id>/home/   the container's /home/work (owned by the container user)
    kernels/<kernel-id>/ipc/    the runner's unix socket (mounted at /opt/backend.ai/ipc)
    pool/<member-id>/home/, ipc/   the same for a warm pool container; they stay there when a
                                kernel claims it, and kernels/<kernel-id>/claim.json says so

A runner copy per content hash keeps running containers on the code they started with when the
agent is upgraded.

Engine side: containers ``bai-kernel-<kernel-id>`` and ``bai-pool-<member-id>``; networks
``bai-net-<spare-id>`` (a spare, made ahead for whichever session takes it),
``bai-session-<session-id>-<agent tag>`` (a session's, made for its first kernel when no spare
was ready) and ``bai-pool-net-<member-id>`` (a warm pool container's; it stays the session's
network when a kernel claims the container), all labelled with the agent id and
``LABEL_NETWORK``. Names and labels cannot change: the session a spare or pool network serves
is recorded by the containers on it and by claims.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from backendai.agent import runner

CONTAINER_HOME = PurePosixPath("/home/work")
CONTAINER_RUNTIME = PurePosixPath("/opt/backend.ai")
CONTAINER_RUNNER = CONTAINER_RUNTIME / "runner"
CONTAINER_IPC = CONTAINER_RUNTIME / "ipc"
RUNNER_SOCKET = "runner.sock"

# Agent-only labels (the shared ones are in backendai.common.agent_protocol): what the agent
# needs to re-adopt a container after a restart without any other state.
LABEL_SLOTS = "ai.backend.agent.slots"
LABEL_SESSION_NAME = "ai.backend.agent.session-name"
LABEL_SESSION_TYPE = "ai.backend.agent.session-type"
LABEL_AGENT_PORTS = "ai.backend.agent.service-ports"  # the kernel's ports, as JSON
LABEL_DEVICES = "ai.backend.agent.devices"  # {plugin: {device id: shares}}, as JSON
# Marks a warm pool container (its value: the image). Such a container has no kernel or session
# labels, even once claimed: labels cannot change, so claims are recorded in claim.json.
LABEL_POOL = "ai.backend.agent.pool"
CLAIM_FILE = "claim.json"
# Marks a network the agent made (its value: "session" or "pool"); with the agent id, what
# the agent may remove.
LABEL_NETWORK = "ai.backend.agent.network"


@dataclass(frozen=True)
class KernelPaths:
    root: Path

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def ipc(self) -> Path:
        return self.root / "ipc"

    @property
    def socket(self) -> Path:
        return self.ipc / RUNNER_SOCKET

    def prepare(self, uid: int, gid: int) -> None:
        # Only the session's uid may enter its home: another session's uid, or a host account
        # that happens to share a uid, must not read it.
        for path, mode in ((self.home, 0o700), (self.ipc, 0o700)):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(mode)
            try:
                os.chown(path, uid, gid)
            except PermissionError:
                # An agent that is not root (development) cannot give the directory away:
                # let the container's user write it anyway.
                path.chmod(0o777)


def kernel_paths(data_dir: Path, kernel_id: uuid.UUID) -> KernelPaths:
    return KernelPaths(data_dir / "kernels" / str(kernel_id))


def pool_paths(data_dir: Path, member_id: uuid.UUID) -> KernelPaths:
    return KernelPaths(data_dir / "pool" / str(member_id))


def container_name(kernel_id: uuid.UUID) -> str:
    return f"bai-kernel-{kernel_id}"


def pool_container_name(member_id: uuid.UUID) -> str:
    return f"bai-pool-{member_id}"


def session_network_name(agent_id: str, session_id: uuid.UUID) -> str:
    # The agent's tag keeps apart two agents on one engine serving kernels of one session.
    tag = hashlib.sha256(agent_id.encode()).hexdigest()[:8]
    return f"bai-session-{session_id}-{tag}"


def pool_network_name(member_id: uuid.UUID) -> str:
    return f"bai-pool-net-{member_id}"


def spare_network_name(spare_id: uuid.UUID) -> str:
    return f"bai-net-{spare_id}"


def install_runner(data_dir: Path) -> Path:
    """Copy the runner package into the data dir (once per version); the dir to mount."""
    source = Path(runner.__file__).parent
    files = sorted(p for p in source.iterdir() if p.suffix == ".py")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    target = data_dir / "runner" / digest.hexdigest()[:16] / "runner"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent))
    for path in files:
        shutil.copyfile(path, staging / path.name)
        (staging / path.name).chmod(0o644)
    staging.chmod(0o755)
    try:
        os.rename(staging, target)  # atomic: another agent process may race us
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target
