"""``session.ServerLog``: the server error log (``server-logs``)."""

from __future__ import annotations

from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.request import Request


class ServerLog(FunctionGroup[M]):
    @api_function
    async def list(
        self, mark_read: bool = False, page_size: int = 20, page_no: int = 1
    ) -> dict[str, Any]:
        """``{"logs": [...], "count": n}``, newest first; ``mark_read`` marks them read."""
        params = {"mark_read": str(mark_read), "page_size": str(page_size), "page_no": str(page_no)}
        data = (await Request(self.session, "GET", "/logs/error", params=params).fetch()).json()
        return data if isinstance(data, dict) else {}

    @api_function
    async def clear(self, log_id: str) -> None:
        """Mark one entry cleared: it is no longer listed."""
        await Request(self.session, "POST", f"/logs/error/{log_id}/clear").fetch()
