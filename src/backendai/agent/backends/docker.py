"""The Docker Engine backend, through the Engine API (aiodocker); never the docker CLI."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import aiodocker
from aiodocker.exceptions import DockerError

from backendai.agent.backends.protocol import (
    ContainerEvent,
    ContainerRecord,
    ContainerSpec,
    OutputCallback,
    Stats,
)
from backendai.agent.errors import BackendError, ContainerNotFound
from backendai.agent.resources import format_cpuset, parse_cpuset
from backendai.common.agent_protocol import ContainerState, ImageInfo, MountSpec
from backendai.common.errors import ImageNotFound

log = logging.getLogger(__name__)

KERNELSPEC_LABEL = "ai.backend.kernelspec"
# The container user never holds capabilities (it is not root, and no-new-privileges stops
# setuid binaries from granting any), so dropping them all only removes what a root
# `docker exec` into the container could do; sshd and ttyd run as the user and need none.
CAP_DROP = ["ALL"]


def _label_filter(labels: Mapping[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in labels.items()]


_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def _parse_time(text: str | None) -> datetime | None:
    """Docker's RFC 3339 times carry nanoseconds, more than Python parses."""
    m = _TIME.match(text or "")
    if m is None or m.group(1).startswith("0001-"):  # the zero time: never started
        return None
    zone = m.group(3) or "Z"
    return datetime.fromisoformat(
        f"{m.group(1)}.{(m.group(2) or '0')[:6]:0<6}{'+00:00' if zone == 'Z' else zone}"
    )


def _record(data: dict[str, Any]) -> ContainerRecord:
    """From an inspect answer (full) or a list item (State is a string there)."""
    state = data.get("State")
    host = data.get("HostConfig") or {}
    if isinstance(state, dict):
        status, exit_code = state.get("Status", "dead"), state.get("ExitCode")
        oom, started = bool(state.get("OOMKilled")), _parse_time(state.get("StartedAt"))
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
    for key, bindings in ((data.get("NetworkSettings") or {}).get("Ports") or {}).items():
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
    )


def _config(spec: ContainerSpec) -> dict[str, Any]:
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


def _stats(raw: dict[str, Any]) -> Stats:
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


class DockerBackend:
    def __init__(self, url: str | None = None) -> None:
        self._docker = aiodocker.Docker(url=url)

    @contextlib.contextmanager
    def _errors(self, what: str, container_id: str = "") -> Any:
        try:
            yield
        except DockerError as e:
            if e.status == 404 and container_id:
                raise ContainerNotFound(f"No container {container_id}.") from e
            raise BackendError(f"Docker could not {what}: {e.message}") from e

    async def create(self, spec: ContainerSpec) -> str:
        try:
            container = await self._docker.containers.create(_config(spec), name=spec.name)
        except DockerError as e:
            if e.status == 404:
                raise ImageNotFound(f"The image {spec.image} is not on this agent.") from e
            raise BackendError(f"Docker could not create the container: {e.message}") from e
        return str(container.id)

    async def start(self, container_id: str) -> None:
        with self._errors("start the container", container_id):
            await self._docker.containers.container(container_id).start()

    async def stop(self, container_id: str, grace: float = 10.0) -> None:
        with self._errors("stop the container", container_id):
            await self._docker.containers.container(container_id).stop(t=int(grace))

    async def destroy(self, container_id: str) -> None:
        with contextlib.suppress(ContainerNotFound), self._errors("remove", container_id):
            await self._docker.containers.container(container_id).delete(force=True, v=True)

    async def inspect(self, container_id: str) -> ContainerRecord:
        with self._errors("inspect the container", container_id):
            return _record(await self._docker.containers.container(container_id).show())

    async def list_containers(self, labels: Mapping[str, str]) -> list[ContainerRecord]:
        filters = json.dumps({"label": _label_filter(labels)})
        with self._errors("list containers"):
            items = await self._docker.containers.list(all=True, filters=filters)
        records = []
        for item in items:
            record = _record(item._container)
            if record.state is not ContainerState.RUNNING:
                # A list item has no exit code or OOM flag: ask for the (rare) stopped ones.
                with contextlib.suppress(ContainerNotFound):
                    record = await self.inspect(record.id)
            records.append(record)
        return records

    async def stats(self, container_id: str) -> Stats:
        # one-shot: a single sample at once instead of waiting ~1 s for a second one; aiodocker's
        # stats() has no such parameter, hence the raw query.
        with self._errors("read stats", container_id):
            raw = await self._docker._query_json(
                f"containers/{container_id}/stats", params={"stream": "0", "one-shot": "1"}
            )
        return _stats(raw)

    async def exec_stream(
        self,
        container_id: str,
        argv: list[str],
        *,
        user: str | None = None,
        on_output: OutputCallback | None = None,
    ) -> int:
        with self._errors("run a command in the container", container_id):
            container = self._docker.containers.container(container_id)
            execution = await container.exec(argv, user=user or "")
            async with execution.start(detach=False) as stream:
                while (message := await stream.read_out()) is not None:
                    if on_output is not None:
                        on_output("stdout" if message.stream == 1 else "stderr", message.data)
            info = await execution.inspect()
        return int(info.get("ExitCode") or 0)

    async def logs(self, container_id: str) -> str:
        with self._errors("read the logs", container_id):
            container = self._docker.containers.container(container_id)
            lines = await container.log(stdout=True, stderr=True)
        return "".join(lines)

    async def put_archive(self, container_id: str, path: str, data: bytes) -> None:
        with self._errors("copy files into the container", container_id):
            async with self._docker._query(
                f"containers/{container_id}/archive",
                method="PUT",
                params={"path": path},
                data=data,
                headers={"Content-Type": "application/x-tar"},
            ):
                pass

    async def get_archive(self, container_id: str, path: str) -> bytes:
        # Raw bytes: aiodocker's get_archive() hands back an opened TarFile instead.
        with self._errors("copy files from the container", container_id):
            async with self._docker._query(
                f"containers/{container_id}/archive", params={"path": path}
            ) as response:
                return bytes(await response.read())

    async def wait(self, container_id: str) -> int:
        with self._errors("wait for the container", container_id):
            result = await self._docker.containers.container(container_id).wait()
        return int(result.get("StatusCode", -1))

    async def events(self, labels: Mapping[str, str]) -> AsyncIterator[ContainerEvent]:
        filters = {"type": ["container"], "event": ["die", "oom"], "label": _label_filter(labels)}
        # The raw stream (one JSON object per line): aiodocker's events channel is shared by
        # every subscriber of the client and keeps the filters of whoever started it first.
        with self._errors("stream events"):
            async with self._docker._query(
                "events", params={"filters": json.dumps(filters)}, timeout=None
            ) as response:
                async for line in response.content:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    actor = event.get("Actor") or {}
                    attributes = dict(actor.get("Attributes") or {})
                    code = str(attributes.get("exitCode", ""))
                    yield ContainerEvent(
                        container_id=str(actor.get("ID", "")),
                        action="oom" if event.get("Action") == "oom" else "die",
                        labels=attributes,  # Docker puts the container's labels here
                        exit_code=int(code) if code.isdigit() else None,
                    )

    async def images(self) -> list[ImageInfo]:
        with self._errors("list images"):
            items = await self._docker.images.list(filters={"label": [KERNELSPEC_LABEL]})
        return [
            ImageInfo(
                name=tag,
                digest=str(item.get("Id", "")),
                size_bytes=int(item.get("Size", 0)),
                labels=dict(item.get("Labels") or {}),
            )
            for item in items
            for tag in item.get("RepoTags") or []
            if tag != "<none>:<none>"
        ]

    async def image_labels(self, image: str) -> dict[str, str]:
        try:
            data = await self._docker.images.inspect(image)
        except DockerError as e:
            if e.status == 404:
                raise ImageNotFound(f"The image {image} is not on this agent.") from e
            raise BackendError(f"Docker could not inspect the image: {e.message}") from e
        return dict((data.get("Config") or {}).get("Labels") or {})

    async def close(self) -> None:
        await self._docker.close()
