"""``session.Domain``: one domain and the domain list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function

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
