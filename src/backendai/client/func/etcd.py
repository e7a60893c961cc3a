"""``session.EtcdConfig``: the platform's shared configuration (``admin etcd``; superadmin)."""

from __future__ import annotations

from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.request import Request


class EtcdConfig(FunctionGroup[M]):
    @api_function
    async def get(self, key: str, prefix: bool = False) -> Any:
        """The key's value (None if unset); with ``prefix``, the nested mapping below it."""
        body = {"key": key, "prefix": prefix}
        data = (await Request(self.session, "POST", "/config/get", json=body).fetch()).json()
        return data.get("result") if isinstance(data, dict) else None

    @api_function
    async def set(self, key: str, value: Any) -> dict[str, Any]:
        body = {"key": key, "value": value}
        data = (await Request(self.session, "POST", "/config/set", json=body).fetch()).json()
        return data if isinstance(data, dict) else {}

    @api_function
    async def delete(self, key: str, prefix: bool = False) -> dict[str, Any]:
        body = {"key": key, "prefix": prefix}
        data = (await Request(self.session, "POST", "/config/delete", json=body).fetch()).json()
        return data if isinstance(data, dict) else {}
