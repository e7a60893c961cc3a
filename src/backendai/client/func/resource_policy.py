"""``session.KeypairResourcePolicy``: keypair resource policies (admin)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function

DEFAULT_FIELDS = (
    "name", "created_at", "total_resource_slots", "max_concurrent_sessions",
    "max_vfolder_count", "max_vfolder_size", "idle_timeout",
)  # fmt: skip


def _props(
    default_for_unspecified: str | None,
    total_resource_slots: Any,
    max_concurrent_sessions: int | None,
    max_containers_per_session: int | None,
    max_vfolder_count: int | None,
    max_vfolder_size: int | None,
    idle_timeout: int | None,
    allowed_vfolder_hosts: Sequence[str] | str | None,
) -> dict[str, Any]:
    return {
        "default_for_unspecified": default_for_unspecified,
        "total_resource_slots": total_resource_slots,
        "max_concurrent_sessions": max_concurrent_sessions,
        "max_containers_per_session": max_containers_per_session,
        "max_vfolder_count": max_vfolder_count,
        "max_vfolder_size": max_vfolder_size,
        "idle_timeout": idle_timeout,
        "allowed_vfolder_hosts": allowed_vfolder_hosts,
    }


class KeypairResourcePolicy(FunctionGroup[M]):
    @api_function
    async def create(
        self,
        name: str,
        default_for_unspecified: str = "UNLIMITED",
        total_resource_slots: Any = "{}",
        max_concurrent_sessions: int = 30,
        max_containers_per_session: int = 1,
        max_vfolder_count: int = 10,
        max_vfolder_size: int = 0,
        idle_timeout: int = 1800,
        allowed_vfolder_hosts: Sequence[str] | str = ("local",),
        fields: Sequence[str] = ("name",),
    ) -> dict[str, Any]:
        """``{"ok", "msg", "resource_policy": {fields}}``; superadmins only."""
        query = (
            "mutation($name: String!, $input: CreateKeyPairResourcePolicyInput!) {"
            "  create_keypair_resource_policy(name: $name, props: $input) {"
            f"    ok msg resource_policy {{ {' '.join(fields)} }}"
            "  }"
            "}"
        )
        hosts = [allowed_vfolder_hosts] if isinstance(allowed_vfolder_hosts, str) else list(
            allowed_vfolder_hosts
        )  # fmt: skip
        variables = {"name": name, "input": _props(
            default_for_unspecified, total_resource_slots, max_concurrent_sessions,
            max_containers_per_session, max_vfolder_count, max_vfolder_size, idle_timeout, hosts,
        )}  # fmt: skip
        data = await self.session.Admin.query(query, variables)
        return dict(data["create_keypair_resource_policy"])

    @api_function
    async def update(
        self,
        name: str,
        default_for_unspecified: str | None = None,
        total_resource_slots: Any = None,
        max_concurrent_sessions: int | None = None,
        max_containers_per_session: int | None = None,
        max_vfolder_count: int | None = None,
        max_vfolder_size: int | None = None,
        idle_timeout: int | None = None,
        allowed_vfolder_hosts: Sequence[str] | str | None = None,
    ) -> dict[str, Any]:
        """Change the given limits (None keeps a limit); ``{"ok", "msg"}``."""
        query = (
            "mutation($name: String!, $input: ModifyKeyPairResourcePolicyInput!) {"
            "  modify_keypair_resource_policy(name: $name, props: $input) {"
            "    ok msg"
            "  }"
            "}"
        )
        variables = {"name": name, "input": _props(
            default_for_unspecified, total_resource_slots, max_concurrent_sessions,
            max_containers_per_session, max_vfolder_count, max_vfolder_size, idle_timeout,
            allowed_vfolder_hosts,
        )}  # fmt: skip
        data = await self.session.Admin.query(query, variables)
        return dict(data["modify_keypair_resource_policy"])

    @api_function
    async def delete(self, name: str) -> dict[str, Any]:
        query = (
            "mutation($name: String!) {"
            "  delete_keypair_resource_policy(name: $name) {"
            "    ok msg"
            "  }"
            "}"
        )
        data = await self.session.Admin.query(query, {"name": name})
        return dict(data["delete_keypair_resource_policy"])

    @api_function
    async def list(self, fields: Sequence[str] = DEFAULT_FIELDS) -> list[dict[str, Any]]:
        query = "query {  keypair_resource_policies {    " + " ".join(fields) + "  }}"
        data = await self.session.Admin.query(query)
        return list(data.get("keypair_resource_policies") or [])

    @api_function
    async def info(
        self, name: str | None = None, fields: Sequence[str] = DEFAULT_FIELDS
    ) -> dict[str, Any] | None:
        """The named policy, or the requester's keypair's when ``name`` is None."""
        query = (
            "query($name: String) {  keypair_resource_policy(name: $name) {    "
            + " ".join(fields)
            + "  }}"
        )
        data = await self.session.Admin.query(query, {"name": name})
        item = data.get("keypair_resource_policy")
        return item if isinstance(item, dict) else None
