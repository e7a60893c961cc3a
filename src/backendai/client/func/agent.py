"""``session.Agent``: the agents (admin)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function, api_generator
from backendai.client.func.pagination import paginate

DEFAULT_LIST_FIELDS = ("id", "status", "scaling_group", "available_slots", "occupied_slots")
DEFAULT_DETAIL_FIELDS = (
    "id", "status", "scaling_group", "addr", "region", "first_contact", "cpu_cur_pct",
    "mem_cur_bytes", "available_slots", "occupied_slots",
)  # fmt: skip


class Agent(FunctionGroup[M]):
    @api_generator
    async def paginated_list(
        self,
        status: str | None = "ALIVE",
        scaling_group: str | None = None,
        *,
        fields: Sequence[str] = DEFAULT_LIST_FIELDS,
        page_size: int = 20,
        filter: str | None = None,
        order: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        variables: dict[str, tuple[Any, str]] = {
            "status": (status, "String"),
            "scaling_group": (scaling_group, "String"),
            "filter": (filter, "String"),
            "order": (order, "String"),
        }
        async for item in paginate(
            self.session, "agent_list", variables, fields, page_size=page_size
        ):
            yield item

    @api_function
    async def detail(
        self, agent_id: str, fields: Sequence[str] = DEFAULT_DETAIL_FIELDS
    ) -> dict[str, Any] | None:
        query = (
            "query($agent_id: String!) {\n"
            f"    agent(agent_id: $agent_id) {{{' '.join(fields)}}}\n}}\n"
        )
        data = await self.session.Admin.query(query, {"agent_id": agent_id})
        item = data.get("agent")
        return item if isinstance(item, dict) else None
