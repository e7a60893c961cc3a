"""``session.Manager``: manager-wide state: the announcement, running or frozen."""

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

    @api_function
    async def update_announcement(self, enabled: bool = True, message: str | None = None) -> None:
        """Post (``enabled``) or delete the announcement (superadmin)."""
        body = {"enabled": enabled, "message": message}
        await Request(self.session, "POST", "/manager/announcement", json=body).fetch()

    @api_function
    async def status(self) -> dict[str, Any]:
        """``{"status": "running"|"frozen", "active_sessions": n}``."""
        req = Request(self.session, "GET", "/manager/status", json={"status": "running"})
        data = (await req.fetch()).json()
        return data if isinstance(data, dict) else {}

    @api_function
    async def freeze(self, force_kill: bool = False) -> None:
        """No new sessions until unfrozen; ``force_kill`` also ends every running one."""
        body = {"status": "frozen", "force_kill": force_kill}
        await Request(self.session, "PUT", "/manager/status", json=body).fetch()

    @api_function
    async def unfreeze(self) -> None:
        await Request(self.session, "PUT", "/manager/status", json={"status": "running"}).fetch()
