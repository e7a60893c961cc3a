"""The Docker Engine backend, through the Engine API (aiodocker); never the docker CLI."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiodocker
from aiodocker.exceptions import DockerError

from backendai.agent.backends.cgroups import read_stats, write_limits
from backendai.agent.backends.docker_commit import commit_config, split_reference
from backendai.agent.backends.docker_wire import (
    create_body,
    label_filter,
    network_body,
    to_network,
    to_record,
    to_stats,
)
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
from backendai.agent.resources import format_cpuset
from backendai.common.agent_protocol import ContainerState, ImageInfo
from backendai.common.errors import ImageNotFound, InvalidRequest
from backendai.common.image_labels import LABEL_KERNELSPEC

log = logging.getLogger(__name__)

RECORD_DELAY = 1.0  # seconds before limits applied through cgroup files are recorded


def is_local(docker_host: str) -> bool:
    """Whether an engine address is this host (its socket, or a TCP port on loopback)."""
    url = urlsplit(docker_host)
    if url.scheme in ("unix", "npipe"):
        return True
    if url.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(url.hostname or "").is_loopback
    except ValueError:
        return False


LOG_TAIL_LINES = 10_000
LOG_MAX_CHARS = 2**20
MAX_KNOWN_PIDS = 4096


class DockerBackend:
    def __init__(self, url: str | None = None) -> None:
        self._docker = aiodocker.Docker(url=url)
        self.bridges_on_host = is_local(self._docker.docker_host)
        # Limits written to cgroup files but not yet recorded with the Engine, per container.
        self._unrecorded: dict[str, Limits] = {}
        self._recording: dict[str, asyncio.Task[None]] = {}
        # The process id of each container sampled, so that a heartbeat's sample is a read of
        # cgroup files, not a Docker call per container. A stale one is harmless: the cgroup
        # check refuses a process that is not the container's any more, and it is asked again.
        self._pids: dict[str, int] = {}

    @contextlib.contextmanager
    def _errors(self, what: str, container_id: str = "") -> Any:
        try:
            yield
        except DockerError as e:
            # A start answers 404 too when the container's network is gone.
            if e.status == 404 and container_id and "network" not in str(e.message):
                raise ContainerNotFound(f"No container {container_id}.") from e
            raise BackendError(f"Docker could not {what}: {e.message}") from e

    async def create(self, spec: ContainerSpec) -> str:
        try:
            container = await self._docker.containers.create(create_body(spec), name=spec.name)
        except DockerError as e:
            if e.status == 404 and "network" not in str(e.message):
                raise ImageNotFound(f"The image {spec.image} is not on this agent.") from e
            raise BackendError(f"Docker could not create the container: {e.message}") from e
        return str(container.id)

    async def start(self, container_id: str) -> None:
        await self._flush_limits(container_id)
        with self._errors("start the container", container_id):
            await self._docker.containers.container(container_id).start()

    async def stop(self, container_id: str, grace: float = 10.0) -> None:
        await self._flush_limits(container_id)
        with self._errors("stop the container", container_id):
            await self._docker.containers.container(container_id).stop(t=int(grace))

    async def destroy(self, container_id: str) -> None:
        self._forget_limits(container_id)
        self._pids.pop(container_id, None)
        with contextlib.suppress(ContainerNotFound), self._errors("remove", container_id):
            await self._docker.containers.container(container_id).delete(force=True, v=True)

    async def update_limits(self, container_id: str, limits: Limits) -> None:
        """Written to the container's cgroup files at once when they are visible (runc would
        take 20-60 ms), then recorded with the Engine (a restart must keep them) a moment later,
        off the path of whatever the container does next."""
        with self._errors("inspect the container", container_id):
            data = await self._docker.containers.container(container_id).show()
        pid = int((data.get("State") or {}).get("Pid") or 0)
        try:
            written = write_limits(container_id, pid, limits)
        except OSError as e:
            raise BackendError(f"The container's limits could not be changed: {e}") from e
        self._forget_limits(container_id)
        if not written:
            await self._record_limits(container_id, limits)
            return
        self._unrecorded[container_id] = limits
        task = asyncio.create_task(self._record_later(container_id))
        self._recording[container_id] = task

    def _forget_limits(self, container_id: str) -> Limits | None:
        task = self._recording.pop(container_id, None)
        if task is not None:
            task.cancel()
        return self._unrecorded.pop(container_id, None)

    async def _record_later(self, container_id: str) -> None:
        await asyncio.sleep(RECORD_DELAY)
        self._recording.pop(container_id, None)
        limits = self._unrecorded.pop(container_id, None)
        if limits is not None:
            try:
                await self._record_limits(container_id, limits)
            except ContainerNotFound:
                pass
            except BackendError as e:
                log.warning("could not record the limits of container %s: %s", container_id, e)

    async def _flush_limits(self, container_id: str) -> None:
        """Record now what was applied but not recorded yet (the container is to stop)."""
        limits = self._forget_limits(container_id)
        if limits is not None:
            with contextlib.suppress(ContainerNotFound):
                await self._record_limits(container_id, limits)

    async def _record_limits(self, container_id: str, limits: Limits) -> None:
        body = {
            "NanoCpus": int(limits.cpu * 1_000_000_000),
            "CpusetCpus": format_cpuset(limits.cpuset),
            "Memory": limits.memory,
            "MemorySwap": limits.memory,  # no swap beyond the limit
            "PidsLimit": limits.pids_limit,
        }
        with self._errors("change the container's limits", container_id):
            await self._docker._query_json(
                f"containers/{container_id}/update",
                method="POST",
                data=json.dumps(body),
                headers={"Content-Type": "application/json"},
            )

    async def inspect(self, container_id: str) -> ContainerRecord:
        with self._errors("inspect the container", container_id):
            return to_record(await self._docker.containers.container(container_id).show())

    async def list_containers(self, labels: Mapping[str, str]) -> list[ContainerRecord]:
        filters = json.dumps({"label": label_filter(labels)})
        with self._errors("list containers"):
            items = await self._docker.containers.list(all=True, filters=filters)
        records = []
        for item in items:
            record = to_record(item._container)
            if record.state is not ContainerState.RUNNING:
                # A list item has no exit code or OOM flag: ask for the (rare) stopped ones.
                with contextlib.suppress(ContainerNotFound):
                    record = await self.inspect(record.id)
            records.append(record)
        return records

    async def stats(self, container_id: str) -> Stats:
        known = self._pids.get(container_id)
        if known is not None and (direct := read_stats(container_id, known)) is not None:
            return direct
        with self._errors("read stats", container_id):
            data = await self._docker.containers.container(container_id).show()
        pid = int((data.get("State") or {}).get("Pid") or 0)
        direct = read_stats(container_id, pid)  # the cgroup files, when this host's are visible
        if direct is not None:
            if len(self._pids) >= MAX_KNOWN_PIDS:  # containers removed behind our back
                self._pids.clear()
            self._pids[container_id] = pid
            return direct
        self._pids.pop(container_id, None)
        # one-shot: a single sample instead of waiting ~1 s for a second one (Docker 20.10 may
        # still wait for its collector's tick); aiodocker's stats() has no such parameter.
        with self._errors("read stats", container_id):
            raw = await self._docker._query_json(
                f"containers/{container_id}/stats", params={"stream": "0", "one-shot": "1"}
            )
        return to_stats(raw)

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

    async def open_pty(
        self, container_id: str, argv: list[str], *, user: str, workdir: str, env: list[str]
    ) -> DockerPty:
        with self._errors("open a terminal in the container", container_id):
            container = self._docker.containers.container(container_id)
            execution = await container.exec(
                argv, user=user, workdir=workdir, environment=env, tty=True, stdin=True
            )
            stream = execution.start(detach=False)
            await stream._init()
        return DockerPty(execution, stream)

    async def logs(self, container_id: str) -> str:
        """The log's tail: its last LOG_TAIL_LINES lines, at most LOG_MAX_CHARS characters.
        Docker keeps 20 MiB of it (docker_wire's LogConfig); a viewer refreshing every few
        seconds must not move all of that each time."""
        with self._errors("read the logs", container_id):
            container = self._docker.containers.container(container_id)
            lines = await container.log(stdout=True, stderr=True, tail=LOG_TAIL_LINES)
        text = "".join(lines)
        if len(lines) >= LOG_TAIL_LINES or len(text) > LOG_MAX_CHARS:
            text = "[earlier output omitted]\n" + text[-LOG_MAX_CHARS:]
        return text

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
        filters = {"type": ["container"], "event": ["die", "oom"], "label": label_filter(labels)}
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
            items = await self._docker.images.list(filters={"label": [LABEL_KERNELSPEC]})
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

    async def commit(self, container_id: str, image: str, labels: Mapping[str, str]) -> ImageInfo:
        """Through the Engine API, never blocking the loop; the container pauses meanwhile."""
        container = self._docker.containers.container(container_id)
        with self._errors("inspect the container", container_id):
            data = await container.show()
        with self._errors("inspect the container's image"):
            source = await self._docker.images.inspect(str(data.get("Image", "")))
        config = commit_config(source.get("Config") or {}, data.get("Config") or {}, labels)
        repository, tag = split_reference(image)
        with self._errors("commit the container", container_id):
            await container.commit(repository=repository, tag=tag, config=config)
        with self._errors("inspect the new image"):
            made = await self._docker.images.inspect(image)
        return ImageInfo(
            name=image,
            digest=str(made.get("Id", "")),
            size_bytes=int(made.get("Size", 0)),
            labels=dict((made.get("Config") or {}).get("Labels") or {}),
        )

    async def remove_image(self, image: str) -> None:
        try:
            await self._docker.images.delete(image)
        except DockerError as e:
            if e.status == 409:
                raise InvalidRequest(
                    f"The image {image} is in use by a container; end its sessions first."
                ) from e
            if e.status != 404:
                raise BackendError(f"Docker could not remove the image: {e.message}") from e

    async def create_network(self, spec: NetworkSpec) -> str:
        try:
            network = await self._docker.networks.create(network_body(spec))
        except DockerError as e:
            message = str(e.message)
            if e.status == 409:
                raise NetworkExists(f"The network {spec.name} exists already.") from e
            # Docker 20.10: 403 "Pool overlaps with other one on this address space", or
            # "... networks have same bridge name".
            if e.status == 403 and ("overlap" in message or "bridge name" in message):
                raise SubnetTaken(f"The subnet {spec.subnet} is taken: {message}") from e
            raise BackendError(f"Docker could not create the network: {message}") from e
        return str(network.id)

    async def remove_network(self, name: str) -> None:
        try:
            async with self._docker._query(f"networks/{name}", method="DELETE"):
                pass
        except DockerError as e:
            if e.status == 404:
                return
            raise BackendError(f"Docker could not remove the network {name}: {e.message}") from e

    async def list_networks(self, labels: Mapping[str, str]) -> list[NetworkRecord]:
        filters = {"label": label_filter(labels)} if labels else None
        with self._errors("list networks"):
            items = await self._docker.networks.list(filters=filters)
        return [to_network(item) for item in items]

    async def close(self) -> None:
        for container_id in list(self._recording):
            await self._flush_limits(container_id)
        await self._docker.close()


class DockerPty:
    """A ``docker exec -it`` session: raw terminal bytes both ways."""

    def __init__(self, execution: Any, stream: Any) -> None:
        self._execution, self._stream = execution, stream

    async def read(self) -> bytes | None:
        message = await self._stream.read_out()
        return None if message is None else bytes(message.data)

    async def write(self, data: bytes) -> None:
        await self._stream.write_in(data)

    async def resize(self, rows: int, cols: int) -> None:
        await self._execution.resize(h=rows, w=cols)

    async def close(self) -> None:
        await self._stream.close()
