"""``session.ComputeSession``: creating, using and listing compute sessions.

The group itself answers listing queries; :meth:`ComputeSession.get_or_create` (or calling
the group with a session name, ``session.ComputeSession("mysess")``) gives an object bound
to one compute session, whose methods act on it::

    with Session() as api:
        sess = api.ComputeSession.get_or_create("python:3.9-ubuntu20.04", name="mysess")
        print(sess.execute(code="print('hi')")["console"])
        sess.destroy()

REST calls address the session by name (``/session/{name}``); the execution and terminal
streams use its UUID when it is known, like the official client.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from typing import TYPE_CHECKING, Any
from uuid import UUID

from backendai.client.exceptions import BackendClientError
from backendai.client.func import session_streams as streams
from backendai.client.func.binding import M, api_function, api_generator
from backendai.client.func.pagination import paginate
from backendai.client.func.session_apps import AppFunctions
from backendai.client.func.session_base import as_dict
from backendai.client.func.session_files import FileTransfer
from backendai.client.func.session_streams import InputProvider, SSEMessage, StreamPty
from backendai.client.request import Request
from backendai.common.session_wire import create_body

if TYPE_CHECKING:
    from backendai.client.config import APIConfig
    from backendai.client.session import AsyncSession

__all__ = ["ComputeSession", "Kernel"]

ACTIVE_STATUSES = (
    "PENDING", "SCHEDULED", "PREPARING", "PULLING", "RUNNING", "RESTARTING",
    "TERMINATING", "RESIZING", "SUSPENDED", "ERROR",
)  # fmt: skip
DEAD_STATUSES = ("CANCELLED", "TERMINATED")
RUNNING_STATUSES = ("PREPARING", "PULLING", "RUNNING")

DEFAULT_LIST_FIELDS = (
    "name", "session_id", "group_name", "id", "image", "type",
    "status", "status_info", "status_changed", "result",
)  # fmt: skip
DETAIL_FIELDS = (
    "name", "session_id", "id", "image", "tag", "created_at", "terminated_at", "status",
    "status_info", "status_data", "occupied_slots",
    "containers { id cluster_role cluster_idx cluster_hostname  agent status status_info"
    " status_data status_changed  occupied_slots live_stat last_stat }",
    "dependencies { name id status status_info status_changed }",
)  # fmt: skip


class ComputeSession(AppFunctions[M], FileTransfer[M]):
    """Compute-session functions; an instance with a ``name``/``id`` is one session."""

    def __call__(self, name: str, owner_access_key: str | None = None) -> ComputeSession[M]:
        """The session named ``name`` (of ``owner_access_key``, for admins)."""
        return type(self)(self.session, self._runner, name=name, owner_access_key=owner_access_key)

    def from_session_id(self, session_id: UUID | str) -> ComputeSession[M]:
        """The session with this UUID."""
        sid = session_id if isinstance(session_id, UUID) else UUID(str(session_id))
        return type(self)(self.session, self._runner, id=sid)

    def __repr__(self) -> str:
        return f"<ComputeSession name={self.name!r} id={self.id} status={self.status}>"

    # -- the group: listing and creation ------------------------------------------------

    @api_generator
    async def paginated_list(
        self,
        status: str | None = ",".join(ACTIVE_STATUSES),
        access_key: str | None = None,
        *,
        fields: Sequence[str] = DEFAULT_LIST_FIELDS,
        page_size: int = 20,
        filter: str | None = None,
        order: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Sessions in the comma-separated ``status`` set, of ``access_key`` (admins)."""
        variables = {
            "status": (status, "String"),
            "access_key": (access_key, "String"),
            "filter": (filter, "String"),
            "order": (order, "String"),
        }
        async for item in paginate(
            self.session, "compute_session_list", variables, fields, page_size=page_size
        ):
            yield item

    @api_function
    async def detail(
        self, session_id: str, fields: Sequence[str] = DETAIL_FIELDS
    ) -> dict[str, Any] | None:
        """One session (any status) by its UUID; None if there is no such session."""
        query = "query($id: UUID!) {  compute_session(id: $id) {    " + " ".join(fields) + "  }}"
        data = await self.session.Admin.query(query, {"id": session_id})
        item = data.get("compute_session")
        return item if isinstance(item, dict) else None

    @api_function
    async def get_or_create(
        self,
        image: str,
        *,
        name: str | None = None,
        type_: str = "interactive",
        starts_at: str | None = None,
        enqueue_only: bool = False,
        max_wait: int = 0,
        no_reuse: bool = False,
        mounts: Sequence[str] | None = None,
        mount_map: Mapping[str, str] | None = None,
        envs: Mapping[str, str] | None = None,
        startup_command: str | None = None,
        resources: Mapping[str, str] | None = None,
        resource_opts: Mapping[str, str] | None = None,
        cluster_size: int = 1,
        cluster_mode: str = "single-node",
        domain_name: str | None = None,
        group_name: str | None = None,
        bootstrap_script: str | None = None,
        tag: str | None = None,
        scaling_group: str | None = None,
        owner_access_key: str | None = None,
        preopen_ports: Sequence[int] | None = None,
        count: int = 1,
    ) -> ComputeSession[M]:
        """Create a session, or reuse the running one with this name and image.

        With ``count`` above 1: create that many identical sessions NAME-1..NAME-count, all or
        none, and return once they are queued; the first is returned, all are in ``.batch``.

        Without ``name`` a random ``pysdk-<hex>`` name is used. The server waits until the
        session runs (unless ``enqueue_only``, or ``max_wait`` seconds pass); check
        ``.status`` (RUNNING, PENDING, SCHEDULED, TIMEOUT, ...) and ``.created``.
        Resource values are sent as given (``{"cpu": "2", "mem": "4g"}``).
        """
        if name is None:
            name = f"pysdk-{secrets.token_hex(5)}"
        elif not 4 <= len(name) <= 64:
            raise BackendClientError("A session name must be 4 to 64 characters long.")
        config: APIConfig = self.session.config
        domain = domain_name if domain_name is not None else config.domain
        group = group_name if group_name is not None else config.group
        # BACKEND_VFOLDER_MOUNTS are added to every session; a folder is mounted once.
        all_mounts = list(dict.fromkeys([*(mounts or ()), *config.vfolder_mounts]))
        session_config = {
            "mounts": all_mounts, "environ": dict(envs or {}),
            "resources": dict(resources or {}), "resource_opts": dict(resource_opts or {}),
            "scaling_group": scaling_group, "mount_map": dict(mount_map or {}),
            "preopen_ports": list(preopen_ports or []),
        }  # fmt: skip
        fields: dict[str, Any] = {
            "tag": tag, "name": name, "cluster_size": cluster_size,
            "cluster_mode": cluster_mode, "starts_at": starts_at,
            "bootstrap_script": bootstrap_script, "owner_access_key": owner_access_key,
            "domain": domain, "group": group, "type": type_, "enqueue_only": enqueue_only,
            "max_wait_seconds": max_wait, "reuse_if_exists": not no_reuse,
            "startup_command": startup_command, "image": image,
        }  # fmt: skip
        if count != 1:
            fields["count"] = count
        body = create_body(fields, session_config)
        data = (await Request(self.session, "POST", "/session", json=body).fetch()).json()
        if count != 1:
            created = data.get("sessions") if isinstance(data, dict) else None
            if not isinstance(created, list) or not created:
                raise BackendClientError(f"The server did not return the sessions: {data!r}")
            batch = [self._created(item, owner_access_key, domain, group) for item in created]
            batch[0].batch = batch
            return batch[0]
        return self._created(data, owner_access_key, domain, group, name)

    def _created(
        self,
        data: Any,
        owner_access_key: str | None,
        domain: str | None,
        group: str | None,
        name: str | None = None,
    ) -> ComputeSession[M]:
        """The session a create request answered with."""
        name = name or str(data.get("sessionName") or "")
        try:
            session_id = UUID(str(data["sessionId"]))
        except (KeyError, TypeError, ValueError) as e:
            raise BackendClientError(f"The server did not return a session ID: {data!r}") from e
        obj = type(self)(
            self.session, self._runner, name=name, id=session_id, owner_access_key=owner_access_key
        )
        obj.created = bool(data.get("created", True))
        obj.status = str(data.get("status", "RUNNING"))
        # A reused session's answer spells it service_ports; take either.
        obj.service_ports = list(data.get("servicePorts") or data.get("service_ports") or [])
        status_info, status_data = data.get("statusInfo"), data.get("statusData")
        obj.status_info = str(status_info) if status_info is not None else None
        obj.status_data = status_data if isinstance(status_data, dict) else {}
        obj.domain = domain
        obj.group = group
        return obj

    # -- one session: REST --------------------------------------------------------------

    @api_function
    async def destroy(self, forced: bool = False) -> dict[str, Any] | None:
        """Terminate the session; the server's answer (``{"stats": ...}``) if it sent one."""
        params = self._owner_params()
        if forced:
            params["forced"] = "true"
        resp = await Request(self.session, "DELETE", f"/session/{self.ref}", params=params).fetch()
        if resp.status == 200 and resp.body:
            data = resp.json()
            return data if isinstance(data, dict) else None
        return None

    @api_function
    async def restart(self) -> None:
        """Restart the session's containers, keeping their working directories."""
        params = self._owner_params()
        await Request(self.session, "PATCH", f"/session/{self.ref}", params=params).fetch()

    @api_function
    async def interrupt(self) -> None:
        """Ask the session to interrupt the code it is running (like Ctrl-C)."""
        params = self._owner_params()
        path = f"/session/{self.ref}/interrupt"
        await Request(self.session, "POST", path, params=params).fetch()

    @api_function
    async def get_info(self) -> dict[str, Any]:
        """The session's REST information (image, status, occupied slots, ...)."""
        params = self._owner_params()
        resp = await Request(self.session, "GET", f"/session/{self.ref}", params=params).fetch()
        return as_dict(resp.json())

    @api_function
    async def get_logs(self) -> dict[str, Any]:
        """``{"result": {"logs": "..."}}``: the container's console output."""
        params = self._owner_params()
        path = f"/session/{self.ref}/logs"
        return as_dict((await Request(self.session, "GET", path, params=params).fetch()).json())

    # -- one session: streams -----------------------------------------------------------

    @api_function
    async def execute(
        self,
        run_id: str | None = None,
        code: str | None = None,
        mode: str = "query",
        opts: Mapping[str, Any] | None = None,
        *,
        input_provider: InputProvider | None = None,
    ) -> dict[str, Any]:
        """Run code to completion over the execution stream and return the whole result.

        ``execute("print(1)")`` and the official ``execute(None, "print(1)")`` both work
        (the stream needs no run ID). The result has ``status``, ``exitCode``, ``console``
        (all ``[type, text]`` records), ``files`` and ``options``. A program that reads
        input needs ``input_provider``; without one, BackendClientError is raised.
        """
        if code is None:
            code, run_id = run_id or "", None  # execute(code) as in the legacy examples
        frames: list[dict[str, Any]] = []
        first = streams.execution_request(code, mode, opts)
        stream = streams.execute_frames(
            self.session, self.stream_ref, self._owner_params(), first, input_provider
        )
        async with aclosing(stream):  # closes the WebSocket even when we stop early
            async for frame in stream:
                frames.append(frame)
                if frame.get("status") == "waiting-input" and input_provider is None:
                    raise BackendClientError(
                        "The code is waiting for input; pass input_provider= or use "
                        "stream_execute()."
                    )
        return streams.collect_result(frames)

    @api_generator
    async def stream_execute(
        self,
        code: str = "",
        mode: str = "query",
        opts: Mapping[str, Any] | None = None,
        *,
        input_provider: InputProvider | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Run code and yield each result frame as it arrives, up to ``finished``.

        ``mode`` is ``query`` (``code`` runs in the session's interpreter) or ``batch``
        (``opts`` gives the ``clean``/``build``/``exec`` shell commands; ``"*"`` = the
        image's default, None = skip). On a ``waiting-input`` frame the line returned by
        ``input_provider(frame)`` is sent back when the next frame is requested.
        """
        first = streams.execution_request(code, mode, opts)
        stream = streams.execute_frames(
            self.session, self.stream_ref, self._owner_params(), first, input_provider
        )
        async with aclosing(stream):
            async for frame in stream:
                yield frame

    @api_generator
    async def stream_events(
        self, scope: str = "*", *, reconnect: bool = True
    ) -> AsyncIterator[SSEMessage]:
        """The session's lifecycle events (``scope``: ``*``, ``session`` or ``kernel``).

        The last one is ``server_close``. If the server closes the stream without it, the
        stream is re-opened after a pause (unless ``reconnect`` is false).
        """
        params: dict[str, str]
        if self.id is not None:
            params = {"sessionId": str(self.id)}
        else:
            params = {"sessionName": self.ref, **self._owner_params()}
        params["scope"] = scope
        events = streams.session_events(self.session, params, reconnect=reconnect)
        async with aclosing(events):
            async for message in events:
                yield message

    listen_events = stream_events  # the official client's name

    def stream_pty(self) -> AbstractAsyncContextManager[StreamPty]:
        """A pseudo-terminal of the session (async sessions only)::

        async with sess.stream_pty() as pty:
            await pty.send_stdin("ls\\n")
            async for output in pty: ...
        """
        return _open_pty(self.session, self.stream_ref, self._owner_params())


@asynccontextmanager
async def _open_pty(
    session: AsyncSession, target: str, params: dict[str, str]
) -> AsyncIterator[StreamPty]:
    rqst = Request(session, "GET", f"/stream/session/{target}/pty", params=params, streaming=True)
    async with rqst.connect_websocket() as ws:
        yield StreamPty(ws)


# The name of this group in Backend.AI's older SDKs (``Kernel.get_or_create(...)``).
Kernel = ComputeSession
