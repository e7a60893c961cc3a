"""The container spec of a new kernel: command, environment, labels, limits and ports."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from decimal import Decimal

from backendai.agent.backends.protocol import ContainerSpec
from backendai.agent.layout import (
    CONTAINER_HOME,
    CONTAINER_IPC,
    CONTAINER_RUNTIME,
    LABEL_AGENT_PORTS,
    LABEL_SESSION_NAME,
    LABEL_SESSION_TYPE,
    LABEL_SLOTS,
    RUNNER_SOCKET,
    container_name,
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


def _environ(req: KernelCreateRequest, cores: int) -> dict[str, str]:
    base = {
        "HOME": str(CONTAINER_HOME),
        "USER": "work",
        "LOGNAME": "work",
        "SHELL": "/bin/bash",
        "LANG": "C.UTF-8",
        "BACKENDAI_KERNEL_ID": str(req.kernel_id),
        "BACKENDAI_SESSION_ID": str(req.session_id),
        "BACKENDAI_SESSION_NAME": req.session_name,
        # Numeric libraries otherwise start a thread per host core, not per allocated core.
        "OMP_NUM_THREADS": str(cores),
    }
    return base | req.environ


def build_spec(
    settings: AgentSettings,
    req: KernelCreateRequest,
    mounts: list[MountSpec],
    cores: list[int],
    service_ports: list[ServicePort],
) -> ContainerSpec:
    uid = settings.uid if req.uid is None else req.uid
    shm = req.resource_opts.get("shmem")
    return ContainerSpec(
        name=container_name(req.kernel_id),
        image=req.image,
        command=RUNNER_COMMAND,
        env=_environ(req, len(cores)),
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
        ports=sorted({p for sp in service_ports for p in sp.container_ports}),
        port_bind_host=settings.port_bind_host,
    )
