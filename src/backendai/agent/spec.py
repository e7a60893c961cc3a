"""Container specs of kernels and warm pool containers: command, environment, labels, limits."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from backendai.agent.backends.protocol import ContainerSpec
from backendai.agent.layout import (
    CONTAINER_HOME,
    CONTAINER_IPC,
    CONTAINER_RUNNER,
    CONTAINER_RUNTIME,
    LABEL_AGENT_PORTS,
    LABEL_POOL,
    LABEL_SESSION_NAME,
    LABEL_SESSION_TYPE,
    LABEL_SLOTS,
    RUNNER_SOCKET,
    KernelPaths,
    container_name,
    pool_container_name,
)
from backendai.agent.settings import AgentSettings
from backendai.common.agent_protocol import (
    LABEL_AGENT_ID,
    LABEL_KERNEL_ID,
    LABEL_SESSION_ID,
    KernelCreateRequest,
    MountSpec,
    ServicePort,
)
from backendai.common.slots import parse_amount

log = logging.getLogger(__name__)

# The runner package is mounted at /opt/backend.ai/runner; ``-m`` needs its parent as cwd.
RUNNER_COMMAND = [
    "/bin/sh", "-c", f'cd {CONTAINER_RUNTIME} && exec python3 -m runner "$@"', "runner",
    "--socket", str(CONTAINER_IPC / RUNNER_SOCKET), "--workdir", str(CONTAINER_HOME),
]  # fmt: skip


def base_mounts(paths: KernelPaths, runner_dir: Path) -> list[MountSpec]:
    """Every container's own directories: /home/work, the runner's socket dir, the runner."""
    return [
        MountSpec(host_path=str(paths.home), container_path=str(CONTAINER_HOME)),
        MountSpec(host_path=str(paths.ipc), container_path=str(CONTAINER_IPC)),
        MountSpec(host_path=str(runner_dir), container_path=str(CONTAINER_RUNNER), read_only=True),
    ]


def parse_service_ports(label: str, preopen: Sequence[int] = ()) -> list[ServicePort]:
    """``ttyd:http:7681,sshd:tcp:2200`` (the image label) plus the session's preopen ports."""
    ports = []
    for item in filter(None, (part.strip() for part in label.split(","))):
        name, _, rest = item.partition(":")
        protocol, _, numbers = rest.partition(":")
        try:
            numbers_list = [int(n) for n in numbers.strip("[]").split("+") if n]
            ports.append(
                ServicePort.model_validate(
                    {"name": name, "protocol": protocol, "container_ports": numbers_list}
                )
            )
        except ValueError:
            log.warning("ignoring the bad service port %r of an image", item)
    taken = {p for sp in ports for p in sp.container_ports}
    ports += [
        ServicePort(name=f"preopen-{p}", protocol="preopen", container_ports=[p])
        for p in preopen
        if p not in taken
    ]
    return ports


# The environment of every container; a kernel's adds its own (kernel_environ).
BASE_ENV = {
    "HOME": str(CONTAINER_HOME),
    "USER": "work",
    "LOGNAME": "work",
    "SHELL": "/bin/bash",
    "LANG": "C.UTF-8",
}
# A warm pool container's limits until a kernel claims it: enough for an idle runner.
POOL_CPU = Decimal(1)
POOL_MEMORY = 256 * 2**20


def kernel_environ(req: KernelCreateRequest, cores: int) -> dict[str, str]:
    base = BASE_ENV | {
        "BACKENDAI_KERNEL_ID": str(req.kernel_id),
        "BACKENDAI_SESSION_ID": str(req.session_id),
        "BACKENDAI_SESSION_NAME": req.session_name,
        # Numeric libraries otherwise start a thread per host core, not per allocated core.
        "OMP_NUM_THREADS": str(cores),
    }
    return base | req.environ


# No port of a container is published (``ContainerSpec.ports`` stays empty): apps are reached
# only through connections their runner hands over (``backendai.agent.apps``). The service
# ports are still recorded in the kernel's label, for the apps' names, protocols and ports.


def build_spec(
    settings: AgentSettings,
    req: KernelCreateRequest,
    mounts: list[MountSpec],
    cores: list[int],
    service_ports: list[ServicePort],
    network: str | None = None,
) -> ContainerSpec:
    uid = settings.uid if req.uid is None else req.uid
    shm = req.resource_opts.get("shmem")
    return ContainerSpec(
        name=container_name(req.kernel_id),
        image=req.image,
        command=RUNNER_COMMAND,
        env=kernel_environ(req, len(cores)),
        labels={
            LABEL_AGENT_ID: settings.id,
            LABEL_KERNEL_ID: str(req.kernel_id),
            LABEL_SESSION_ID: str(req.session_id),
            LABEL_SESSION_NAME: req.session_name,
            LABEL_SESSION_TYPE: req.session_type,
            LABEL_SLOTS: json.dumps(req.slots),
            LABEL_AGENT_PORTS: json.dumps([p.model_dump() for p in service_ports]),
        },
        user=f"{uid}:{settings.gid}",
        workdir=str(CONTAINER_HOME),
        mounts=mounts,
        cpu=Decimal(req.slots.get("cpu", "1")),
        cpuset=cores,
        memory=int(Decimal(req.slots["mem"])) if "mem" in req.slots else None,
        shm_size=int(parse_amount("mem", shm)) if shm else settings.default_shmem,
        pids_limit=settings.pids_limit,
        network=network,
    )


def build_pool_spec(
    settings: AgentSettings,
    image: str,
    member_id: uuid.UUID,
    mounts: list[MountSpec],
    cores: list[int],
    service_ports: list[ServicePort],
    network: str | None = None,
) -> ContainerSpec:
    """A warm pool container: locked down like a kernel, neutral until claimed."""
    return ContainerSpec(
        name=pool_container_name(member_id),
        image=image,
        command=RUNNER_COMMAND,
        env=dict(BASE_ENV),
        labels={LABEL_AGENT_ID: settings.id, LABEL_POOL: image},
        user=f"{settings.uid}:{settings.gid}",
        workdir=str(CONTAINER_HOME),
        mounts=mounts,
        cpu=POOL_CPU,
        cpuset=cores,
        memory=POOL_MEMORY,
        shm_size=settings.default_shmem,
        pids_limit=settings.pids_limit,
        network=network,
    )
