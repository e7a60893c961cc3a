"""``session.SessionTemplate``: session templates (API_CONTRACT §7) and sessions started from
one (``start``, §2.11)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from backendai.client.exceptions import BackendClientError
from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.request import Request


def _owner(owner_access_key: str | None) -> dict[str, str]:
    return {"owner_access_key": owner_access_key} if owner_access_key else {}


class SessionTemplate(FunctionGroup[M]):
    @api_function
    async def create(
        self,
        template: str,
        *,
        domain_name: str | None = None,
        group_name: str | None = None,
        owner_access_key: str | None = None,
    ) -> str:
        """Store ``template`` (YAML or JSON text); its id. With ``group_name`` the group's
        members may use it too."""
        body = {"payload": template, "domain_name": domain_name, "group_name": group_name,
                "owner_access_key": owner_access_key}  # fmt: skip
        data = (await Request(self.session, "POST", "/template/session", json=body).fetch()).json()
        template_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(template_id, str):
            raise BackendClientError(f"The server did not return the template's id: {data!r}")
        return template_id

    @api_function
    async def list_templates(self, list_all: bool = False) -> list[dict[str, Any]]:
        """``[{"name", "id", "created_at", "is_owner", "user", "group", ...}]``."""
        request = Request(self.session, "GET", "/template/session", json={"all": list_all})
        data = (await request.fetch()).json()
        return data if isinstance(data, list) else []

    @api_function
    async def get(
        self, template_id: str, body_format: str = "yaml", owner_access_key: str | None = None
    ) -> str:
        """The stored (normalized) template as YAML or JSON text."""
        params = {"format": body_format} | _owner(owner_access_key)
        path = f"/template/session/{template_id}"
        return (await Request(self.session, "GET", path, params=params).fetch()).text()

    @api_function
    async def update(
        self, template_id: str, template: str, owner_access_key: str | None = None
    ) -> None:
        body = {"payload": template} | _owner(owner_access_key)
        path = f"/template/session/{template_id}"
        await Request(self.session, "PUT", path, json=body, params=_owner(owner_access_key)).fetch()

    @api_function
    async def delete(self, template_id: str, owner_access_key: str | None = None) -> None:
        path = f"/template/session/{template_id}"
        await Request(self.session, "DELETE", path, params=_owner(owner_access_key)).fetch()

    @api_function
    async def start(
        self,
        template_id: str,
        *,
        name: str | None = None,
        image: str | None = None,
        type_: str | None = None,
        starts_at: str | None = None,
        startup_command: str | None = None,
        enqueue_only: bool = False,
        max_wait: int | None = None,
        no_reuse: bool = False,
        envs: Mapping[str, str] | None = None,
        mounts: Sequence[str] | None = None,
        mount_map: Mapping[str, str] | None = None,
        resources: Mapping[str, str] | None = None,
        resource_opts: Mapping[str, str] | None = None,
        scaling_group: str | None = None,
        domain_name: str | None = None,
        group_name: str | None = None,
        tag: str | None = None,
        cluster_size: int | None = None,
        owner_access_key: str | None = None,
    ) -> dict[str, Any]:
        """Start a session from the template; the create answer (``sessionId``,
        ``sessionName``, ``status``, ``servicePorts``, ...).

        What is None here is the template's. ``envs``/``resources`` given empty blank the
        template's (``--no-env``/``--no-resource``); ``mounts`` given (even empty) replace
        the template's folders."""
        config: dict[str, Any] = {"mounts": list(mounts or [])}
        if mounts is not None:
            config["mount_map"] = dict(mount_map or {})
        for key, value in (("environ", envs), ("resources", resources),
                           ("resource_opts", resource_opts)):  # fmt: skip
            if value is not None:
                config[key] = dict(value)
        if scaling_group:
            config["scalingGroup"] = scaling_group
        body: dict[str, Any] = {
            "template_id": template_id, "name": name, "image": image, "domain": domain_name,
            "group": group_name, "enqueueOnly": enqueue_only, "reuseIfExists": not no_reuse,
            "startupCommand": startup_command, "owner_access_key": owner_access_key,
            "starts_at": starts_at, "config": config,
        }  # fmt: skip
        optional = {"type": type_, "tag": tag, "maxWaitSeconds": max_wait,
                    "clusterSize": cluster_size}  # fmt: skip
        body |= {k: v for k, v in optional.items() if v is not None}
        path = "/session/_/create-from-template"
        data = (await Request(self.session, "POST", path, json=body).fetch()).json()
        if not isinstance(data, dict) or "sessionId" not in data:
            raise BackendClientError(f"The server did not return a session ID: {data!r}")
        return data
