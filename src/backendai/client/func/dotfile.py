"""``session.Dotfile``: user (keypair), group and domain dotfiles, placed into every new
session's home. The scope follows what is named: ``group`` (with ``domain`` when the group is
given by name), else ``domain``, else the user's own (or ``owner_access_key``'s)."""

from __future__ import annotations

from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.request import Request


def _scope(
    owner_access_key: str | None, domain: str | None, group: str | None
) -> tuple[str, dict[str, str]]:
    if group:
        return "/group-config/dotfiles", {"group": group} | ({"domain": domain} if domain else {})
    if domain:
        return "/domain-config/dotfiles", {"domain": domain}
    owner = {"owner_access_key": owner_access_key} if owner_access_key else {}
    return "/user-config/dotfiles", owner


class Dotfile(FunctionGroup[M]):
    @api_function
    async def create(
        self,
        data: str,
        path: str,
        permission: str = "755",
        *,
        owner_access_key: str | None = None,
        domain: str | None = None,
        group: str | None = None,
    ) -> None:
        route, scope = _scope(owner_access_key, domain, group)
        body = {"data": data, "path": path, "permission": permission} | scope
        await Request(self.session, "POST", route, json=body).fetch()

    @api_function
    async def list(
        self,
        *,
        owner_access_key: str | None = None,
        domain: str | None = None,
        group: str | None = None,
    ) -> list[dict[str, Any]]:
        """``[{"path", "permission", "data"}, ...]``."""
        route, scope = _scope(owner_access_key, domain, group)
        data = (await Request(self.session, "GET", route, params=scope).fetch()).json()
        return data if isinstance(data, list) else []

    @api_function
    async def get(
        self,
        path: str,
        *,
        owner_access_key: str | None = None,
        domain: str | None = None,
        group: str | None = None,
    ) -> dict[str, Any]:
        route, scope = _scope(owner_access_key, domain, group)
        params = {"path": path} | scope
        data = (await Request(self.session, "GET", route, params=params).fetch()).json()
        return data if isinstance(data, dict) else {}

    @api_function
    async def update(
        self,
        path: str,
        data: str,
        permission: str = "755",
        *,
        owner_access_key: str | None = None,
        domain: str | None = None,
        group: str | None = None,
    ) -> None:
        route, scope = _scope(owner_access_key, domain, group)
        body = {"data": data, "path": path, "permission": permission} | scope
        await Request(self.session, "PATCH", route, json=body).fetch()

    @api_function
    async def delete(
        self,
        path: str,
        *,
        owner_access_key: str | None = None,
        domain: str | None = None,
        group: str | None = None,
    ) -> None:
        route, scope = _scope(owner_access_key, domain, group)
        await Request(self.session, "DELETE", route, params={"path": path} | scope).fetch()
