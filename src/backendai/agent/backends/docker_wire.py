"""Translating between the Docker Engine API's JSON and the backend protocol's records.

Pure functions (no I/O), used by ``docker.py``: a ``ContainerSpec`` to a create body, an inspect
answer or list item to a ``ContainerRecord``, a stats answer to Backend.AI's last_stat shape, a
``NetworkSpec`` to a network create body and a network listing item to a ``NetworkRecord``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from backendai.agent.backends.protocol import (
    ContainerRecord,
    ContainerSpec,
    NetworkRecord,
    NetworkSpec,
    Stats,
)
from backendai.agent.resources import format_cpuset, parse_cpuset
from backendai.common.agent_protocol import ContainerState, MountSpec

# The container user never holds capabilities (it is not root, and no-new-privileges stops
# setuid binaries from granting any), so dropping them all only removes what a root
# `docker exec` into the container could do; sshd and ttyd run as the user and need none.
CAP_DROP = ["ALL"]


def label_filter(labels: Mapping[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in labels.items()]


_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def parse_time(text: str | None) -> datetime | None:
    """Docker's RFC 3339 times carry nanoseconds, more than Python parses."""
    m = _TIME.match(text or "")
    if m is None or m.group(1).startswith("0001-"):  # the zero time: never started
        return None
    zone = m.group(3) or "Z"
    return datetime.fromisoformat(
        f"{m.group(1)}.{(m.group(2) or '0')[:6]:0<6}{'+00:00' if zone == 'Z' else zone}"
    )


def to_record(data: dict[str, Any]) -> ContainerRecord:
    """From an inspect answer (full) or a list item (State is a string there)."""
    state = data.get("State")
    host = data.get("HostConfig") or {}
    if isinstance(state, dict):
        status, exit_code = state.get("Status", "dead"), state.get("ExitCode")
        oom, started = bool(state.get("OOMKilled")), parse_time(state.get("StartedAt"))
        labels = (data.get("Config") or {}).get("Labels") or {}
        name = str(data.get("Name", "")).lstrip("/")
    else:
        status, exit_code, oom, started = str(state or "dead"), None, False, None
        labels = data.get("Labels") or {}
        name = str((data.get("Names") or [""])[0]).lstrip("/")
    try:
        container_state = ContainerState(status)
    except ValueError:  # "paused", "removing": alive for our purposes, or going away
        container_state = ContainerState.RUNNING if status == "paused" else ContainerState.DEAD
    ports: dict[int, int] = {}
    network_settings = data.get("NetworkSettings") or {}
    for key, bindings in (network_settings.get("Ports") or {}).items():
        if bindings and key.endswith("/tcp"):
            ports[int(key.split("/")[0])] = int(bindings[0]["HostPort"])
    mounts = [
        MountSpec(host_path=m["Source"], container_path=m["Destination"], read_only=not m["RW"])
        for m in data.get("Mounts") or []
        if m.get("Type") == "bind"
    ]
    return ContainerRecord(
        id=str(data.get("Id", "")),
        name=name,
        labels=dict(labels),
        state=container_state,
        exit_code=exit_code if container_state is not ContainerState.RUNNING else None,
        oom_killed=oom,
        started_at=started,
        cpuset=parse_cpuset(host.get("CpusetCpus") or ""),
        memory=host.get("Memory") or None,
        mounts=mounts,
        ports=ports,
        networks={
            str(name): str((endpoint or {}).get("IPAddress") or "")
            for name, endpoint in (network_settings.get("Networks") or {}).items()
        },
    )


def create_body(spec: ContainerSpec) -> dict[str, Any]:
    host: dict[str, Any] = {
        "Init": True,  # docker-init as PID 1 reaps orphans and forwards signals to the runner
        "Mounts": [
            {
                "Type": "bind",
                "Source": m.host_path,
                "Target": m.container_path,
                "ReadOnly": m.read_only,
            }
            for m in spec.mounts
        ],
        "NanoCpus": int(spec.cpu * 1_000_000_000),
        "CpusetCpus": format_cpuset(spec.cpuset),
        "ShmSize": spec.shm_size,
        "PidsLimit": spec.pids_limit,
        "SecurityOpt": ["no-new-privileges"],
        "CapDrop": CAP_DROP,
        "PortBindings": {
            f"{p}/tcp": [{"HostIp": spec.port_bind_host, "HostPort": ""}] for p in spec.ports
        },
        # The runner tees user output into the log: keep it bounded.
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}},
    }
    if spec.network:
        host["NetworkMode"] = spec.network
    if spec.memory:
        host["Memory"] = spec.memory
        host["MemorySwap"] = spec.memory  # no swap beyond the limit
    return {
        "Image": spec.image,
        "Entrypoint": spec.command,
        "Cmd": [],
        "User": spec.user,
        "WorkingDir": spec.workdir,
        "Env": [f"{k}={v}" for k, v in spec.env.items()],
        "Labels": spec.labels,
        "ExposedPorts": {f"{p}/tcp": {} for p in spec.ports},
        "HostConfig": host,
    }


def to_stats(raw: dict[str, Any]) -> Stats:
    cpu = raw.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage")
    memory = raw.get("memory_stats", {})
    detail = memory.get("stats", {})
    # What `docker stats` shows: usage minus the page cache that could be dropped.
    cache = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    usage = memory.get("usage")
    stats: Stats = {
        "cpu_used": {
            "current": None if cpu is None else str(cpu // 1_000_000),
            "capacity": None,
            "unit_hint": "msec",
        },
        "mem": {
            "current": None if usage is None else str(max(0, usage - cache)),
            "capacity": None if memory.get("limit") is None else str(memory["limit"]),
            "unit_hint": "bytes",
            "stats.max": None if memory.get("max_usage") is None else str(memory["max_usage"]),
        },
    }
    networks = raw.get("networks") or {}
    for key, field in (("net_rx", "rx_bytes"), ("net_tx", "tx_bytes")):
        total = sum(int(n.get(field, 0)) for n in networks.values())
        stats[key] = {"current": str(total), "capacity": None, "unit_hint": "bytes"}
    return stats


# Docker's bridge driver option naming the host interface: the firewall's rules match it.
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"


def network_body(spec: NetworkSpec) -> dict[str, Any]:
    return {
        "Name": spec.name,
        # Without it, Docker 20.10 makes a second network of the same name.
        "CheckDuplicate": True,
        "Driver": "bridge",
        "Internal": False,  # an internal network publishes no ports: apps would be unreachable
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Config": [{"Subnet": spec.subnet, "Gateway": spec.gateway}]},
        "Options": {BRIDGE_NAME_OPTION: spec.bridge},
        "Labels": spec.labels,
    }


def to_network(data: dict[str, Any]) -> NetworkRecord:
    configs = (data.get("IPAM") or {}).get("Config") or []
    return NetworkRecord(
        id=str(data.get("Id", "")),
        name=str(data.get("Name", "")),
        labels=dict(data.get("Labels") or {}),
        subnets=[str(c["Subnet"]) for c in configs if c.get("Subnet") and ":" not in c["Subnet"]],
    )
