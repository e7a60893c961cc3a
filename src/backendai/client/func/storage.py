"""``session.Storage``: storage volumes, keyed by vfolder host (admin)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function, api_generator
from backendai.client.func.pagination import paginate

DEFAULT_LIST_FIELDS = ("id", "backend", "capabilities")
DEFAULT_DETAIL_FIELDS = ("id", "backend", "path", "fsprefix", "capabilities", "hardware_metadata")


class Storage(FunctionGroup[M]):
    @api_generator
    async def paginated_list(
        self,
        *,
        fields: Sequence[str] = DEFAULT_LIST_FIELDS,
        page_size: int = 20,
        filter: str | None = None,
        order: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        variables: dict[str, tuple[Any, str]] = {
            "filter": (filter, "String"),
            "order": (order, "String"),
        }
        async for item in paginate(
            self.session, "storage_volume_list", variables, fields, page_size=page_size
        ):
            yield item

    @api_function
    async def detail(
        self, vfolder_host: str, fields: Sequence[str] = DEFAULT_DETAIL_FIELDS
    ) -> dict[str, Any] | None:
        query = (
            "query($vfolder_host: String!) {\n"
            f"    storage_volume(id: $vfolder_host) {{{' '.join(fields)}}}\n}}\n"
        )
        data = await self.session.Admin.query(query, {"vfolder_host": vfolder_host})
        item = data.get("storage_volume")
        return item if isinstance(item, dict) else None
