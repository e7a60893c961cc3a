"""``session.Group``: one group (project) and the group list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.func.props import props, result

DEFAULT_FIELDS = (
    "id", "name", "domain_name", "description", "is_active", "created_at",
    "total_resource_slots", "allowed_vfolder_hosts",
)  # fmt: skip


class Group(FunctionGroup[M]):
    @api_function
    async def detail(
        self, gid: str, fields: Sequence[str] = DEFAULT_FIELDS
    ) -> dict[str, Any] | None:
        """The group with UUID ``gid``; None if the server knows no such group."""
        query = f"query($gid: UUID!) {{\n    group(id: $gid) {{{' '.join(fields)}}}\n}}\n"
        data = await self.session.Admin.query(query, {"gid": gid})
        item = data.get("group")
        return item if isinstance(item, dict) else None

    @api_function
    async def list(
        self, domain_name: str | None = None, fields: Sequence[str] = DEFAULT_FIELDS
    ) -> list[dict[str, Any]]:
        """The groups of ``domain_name`` (or all the requester may see when None)."""
        query = (
            "query($domain_name: String) {\n"
            f"    groups(domain_name: $domain_name) {{{' '.join(fields)}}}\n"
            "}\n"
        )
        data = await self.session.Admin.query(query, {"domain_name": domain_name})
        return list(data.get("groups") or [])

    @api_function
    async def create(
        self,
        domain_name: str,
        name: str,
        *,
        description: str | None = None,
        is_active: bool = True,
        total_resource_slots: str | None = None,
        allowed_vfolder_hosts: Sequence[str] | None = None,
        fields: Sequence[str] = ("id", "domain_name", "name"),
    ) -> dict[str, Any]:
        """``create_group``: ``{ok, msg, group}``."""
        query = (
            "mutation($name: String!, $input: GroupInput!) {\n"
            f"    create_group(name: $name, props: $input) {{\n"
            f"        ok msg group {{{' '.join(fields)}}}\n"
            "    }\n"
            "}\n"
        )
        variables = {"name": name, "input": props(
            "GroupProps", description=description, is_active=is_active, domain_name=domain_name,
            total_resource_slots=total_resource_slots,
            allowed_vfolder_hosts=allowed_vfolder_hosts,
        )}  # fmt: skip
        return result(await self.session.Admin.query(query, variables), "create_group")

    @api_function
    async def update(
        self,
        gid: str,
        *,
        name: str | None = None,
        description: str | None = None,
        is_active: bool | None = None,
        total_resource_slots: str | None = None,
        allowed_vfolder_hosts: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """``modify_group``: only what is given (not None) changes."""
        return await self._modify(
            gid, name=name, description=description, is_active=is_active,
            total_resource_slots=total_resource_slots,
            allowed_vfolder_hosts=allowed_vfolder_hosts,
        )  # fmt: skip

    @api_function
    async def add_users(self, gid: str, user_uuids: Sequence[str]) -> dict[str, Any]:
        return await self._modify(gid, user_update_mode="add", user_uuids=list(user_uuids))

    @api_function
    async def remove_users(self, gid: str, user_uuids: Sequence[str]) -> dict[str, Any]:
        return await self._modify(gid, user_update_mode="remove", user_uuids=list(user_uuids))

    async def _modify(self, gid: str, **values: Any) -> dict[str, Any]:
        query = (
            "mutation($gid: UUID!, $input: ModifyGroupInput!) {\n"
            "    modify_group(gid: $gid, props: $input) { ok msg }\n"
            "}\n"
        )
        variables = {"gid": gid, "input": props("ModifyGroupProps", **values)}
        return result(await self.session.Admin.query(query, variables), "modify_group")

    @api_function
    async def delete(self, gid: str) -> dict[str, Any]:
        """``delete_group``: inactivate the group."""
        query = "mutation($gid: UUID!) {\n    delete_group(gid: $gid) { ok msg }\n}\n"
        return result(await self.session.Admin.query(query, {"gid": gid}), "delete_group")

    @api_function
    async def purge(self, gid: str) -> dict[str, Any]:
        """``purge_group``: delete the group for good."""
        query = "mutation($gid: UUID!) {\n    purge_group(gid: $gid) { ok msg }\n}\n"
        return result(await self.session.Admin.query(query, {"gid": gid}), "purge_group")
