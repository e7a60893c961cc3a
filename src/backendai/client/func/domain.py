"""``session.Domain``: one domain and the domain list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.func.props import props, result

DEFAULT_FIELDS = (
    "name", "description", "is_active", "created_at", "total_resource_slots",
    "allowed_vfolder_hosts", "allowed_docker_registries", "scaling_groups",
)  # fmt: skip


class Domain(FunctionGroup[M]):
    @api_function
    async def detail(
        self, name: str | None = None, fields: Sequence[str] = DEFAULT_FIELDS
    ) -> dict[str, Any] | None:
        """The domain ``name``, or the requester's own domain when it is None."""
        query = f"query($name: String) {{\n    domain(name: $name) {{{' '.join(fields)}}}\n}}\n"
        data = await self.session.Admin.query(query, {"name": name})
        item = data.get("domain")
        return item if isinstance(item, dict) else None

    @api_function
    async def list(self, fields: Sequence[str] = DEFAULT_FIELDS) -> list[dict[str, Any]]:
        """Every domain (superadmins only)."""
        query = f"query {{\n    domains {{{' '.join(fields)}}}\n}}\n"
        data = await self.session.Admin.query(query)
        return list(data.get("domains") or [])

    @api_function
    async def create(
        self,
        name: str,
        *,
        description: str | None = None,
        is_active: bool = True,
        total_resource_slots: str | None = None,
        allowed_vfolder_hosts: Sequence[str] | None = None,
        allowed_docker_registries: Sequence[str] | None = None,
        fields: Sequence[str] = ("name",),
    ) -> dict[str, Any]:
        """``create_domain``: ``{ok, msg, domain}``."""
        query = (
            "mutation($name: String!, $input: DomainInput!) {\n"
            f"    create_domain(name: $name, props: $input) {{\n"
            f"        ok msg domain {{{' '.join(fields)}}}\n"
            "    }\n"
            "}\n"
        )
        variables = {"name": name, "input": props(
            "DomainProps", description=description, is_active=is_active,
            total_resource_slots=total_resource_slots,
            allowed_vfolder_hosts=allowed_vfolder_hosts,
            allowed_docker_registries=allowed_docker_registries,
        )}  # fmt: skip
        return result(await self.session.Admin.query(query, variables), "create_domain")

    @api_function
    async def update(
        self,
        name: str,
        *,
        new_name: str | None = None,
        description: str | None = None,
        is_active: bool | None = None,
        total_resource_slots: str | None = None,
        allowed_vfolder_hosts: Sequence[str] | None = None,
        allowed_docker_registries: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """``modify_domain``: only what is given (not None) changes."""
        query = (
            "mutation($name: String!, $input: ModifyDomainInput!) {\n"
            "    modify_domain(name: $name, props: $input) { ok msg }\n"
            "}\n"
        )
        variables = {"name": name, "input": props(
            "ModifyDomainProps", name=new_name, description=description, is_active=is_active,
            total_resource_slots=total_resource_slots,
            allowed_vfolder_hosts=allowed_vfolder_hosts,
            allowed_docker_registries=allowed_docker_registries,
        )}  # fmt: skip
        return result(await self.session.Admin.query(query, variables), "modify_domain")

    @api_function
    async def delete(self, name: str) -> dict[str, Any]:
        """``delete_domain``: inactivate the domain."""
        query = "mutation($name: String!) {\n    delete_domain(name: $name) { ok msg }\n}\n"
        return result(await self.session.Admin.query(query, {"name": name}), "delete_domain")

    @api_function
    async def purge(self, name: str) -> dict[str, Any]:
        """``purge_domain``: delete the domain for good."""
        query = "mutation($name: String!) {\n    purge_domain(name: $name) { ok msg }\n}\n"
        return result(await self.session.Admin.query(query, {"name": name}), "purge_domain")
