"""A warm pool container becoming a kernel's, and the durable record that it did.

A container's labels cannot change after it is created, so a pool container claimed by a kernel
still carries no kernel or session labels. ``kernels/<kernel-id>/claim.json`` (root's, never
mounted into any container) says which container the kernel runs in and holds what the labels
hold for other kernels, so that a retried create, a destroy, the heartbeat and the re-adoption
after an agent restart all find it. It is written atomically and synced before the kernel is
reported created: a claim interrupted before that leaves an unclaimed pool container, which the
next start removes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ValidationError

from backendai.agent.backends.protocol import ContainerBackend, Limits
from backendai.agent.layout import CLAIM_FILE, KernelPaths, kernel_paths
from backendai.agent.pool import PoolMember
from backendai.agent.runner_link import configure
from backendai.agent.settings import AgentSettings
from backendai.agent.spec import kernel_environ
from backendai.common.agent_protocol import KernelCreateRequest, ServicePort

log = logging.getLogger(__name__)


class Claim(BaseModel):
    kernel_id: uuid.UUID
    session_id: uuid.UUID
    container_id: str
    root: str  # the pool container's host directory (home/ and ipc/ below it)
    slots: dict[str, str]
    service_ports: list[ServicePort]
    environ: dict[str, str]  # what the runner was given; given again after a restart
    # The member's own network, now the session's (None: a claim made before networks were).
    network: str | None = None

    @property
    def paths(self) -> KernelPaths:
        return KernelPaths(Path(self.root))


def claim_path(data_dir: Path, kernel_id: uuid.UUID) -> Path:
    return kernel_paths(data_dir, kernel_id).root / CLAIM_FILE


def write_claim(data_dir: Path, claim: Claim) -> None:
    path = claim_path(data_dir, claim.kernel_id)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{CLAIM_FILE}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, claim.model_dump_json().encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temporary, path)
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _load(path: Path) -> Claim | None:
    try:
        return Claim.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as e:
        log.warning("ignoring the unreadable claim %s: %s", path, e)
        return None


def read_claim(data_dir: Path, kernel_id: uuid.UUID) -> Claim | None:
    return _load(claim_path(data_dir, kernel_id))


def all_claims(data_dir: Path) -> list[Claim]:
    claims = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(data_dir / "kernels"):
            claim = _load(Path(entry.path) / CLAIM_FILE)
            if claim is not None:
                claims.append(claim)
    return claims


async def take_over(
    backend: ContainerBackend,
    settings: AgentSettings,
    req: KernelCreateRequest,
    member: PoolMember,
    cores: list[int],
) -> Claim:
    """Give ``member`` the kernel's limits (in place) and environment (to its runner), then
    record the claim; only then is the container the kernel's. Raises PlatformError or
    OSError, having recorded nothing, if a step fails."""
    cpu = Decimal(req.slots.get("cpu", "1"))
    limits = Limits(cpu, cores, int(Decimal(req.slots["mem"])), settings.pids_limit)
    claim = Claim(
        kernel_id=req.kernel_id,
        session_id=req.session_id,
        container_id=member.container_id,
        root=str(member.paths.root),
        slots=req.slots,
        service_ports=member.service_ports,
        environ=kernel_environ(req, len(cores)),
        network=member.network,
    )
    await backend.update_limits(member.container_id, limits)
    await configure(member.paths.socket, claim.environ, member.link)
    await asyncio.to_thread(write_claim, settings.data_dir, claim)
    return claim
