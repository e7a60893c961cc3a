"""``session.System``: the server's version information."""

from __future__ import annotations

from typing import Any

from backendai.client.exceptions import BackendClientError
from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.request import Request


class System(FunctionGroup[M]):
    @api_function
    async def versions(self) -> dict[str, Any]:
        """``GET /`` (signed): ``{"version": "v6.20210815", "manager": "..."}``."""
        data = (await Request(self.session, "GET", "/").fetch()).json()
        if not isinstance(data, dict) or "version" not in data:
            raise BackendClientError(f"The server did not report its API version: {data!r}")
        return data
