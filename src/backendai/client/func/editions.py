"""``session.Editions``: what Backend.AI's enterprise edition has (a license, agent watchers);
this platform answers that they are not available."""

from __future__ import annotations

from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.request import Request


class Editions(FunctionGroup[M]):
    @api_function
    async def license(self) -> dict[str, Any]:
        data = (await Request(self.session, "GET", "/license").fetch()).json()
        return data if isinstance(data, dict) else {}

    @api_function
    async def watcher(self, agent_id: str, op: str | None = None) -> Any:
        """``op`` None: the watcher's status; else ``agent/start|stop|restart``."""
        body = {"agent_id": agent_id}
        if op is None:
            req = Request(self.session, "GET", "/resource/watcher", json=body)
        else:
            req = Request(self.session, "POST", f"/resource/watcher/agent/{op}", json=body)
        data = (await req.fetch()).json()
        return data.get("message", data) if isinstance(data, dict) else data
