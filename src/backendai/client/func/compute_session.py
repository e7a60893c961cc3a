"""``session.ComputeSession``: listing and inspecting compute sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function, api_generator
from backendai.client.func.pagination import paginate

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


class ComputeSession(FunctionGroup[M]):
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
