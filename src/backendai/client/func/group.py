"""``session.Group``: one group (project) and the group list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function

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
