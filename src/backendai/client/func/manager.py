"""``session.Manager``: manager-wide state such as the announcement."""

from __future__ import annotations

from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.request import Request


class Manager(FunctionGroup[M]):
    @api_function
    async def announcement(self) -> dict[str, Any]:
        """``{"enabled": bool, "message": str}``; a server without one reports disabled."""
        data = (await Request(self.session, "GET", "/manager/announcement").fetch()).json()
        if not isinstance(data, dict):
            return {"enabled": False, "message": ""}
        return {"enabled": bool(data.get("enabled")), "message": str(data.get("message") or "")}
