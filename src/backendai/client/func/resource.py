"""``session.Resource``: resource presets, usage statistics and the platform's resource
configuration; ``session.Scheduler``: including and excluding agents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.request import Request


class Resource(FunctionGroup[M]):
    async def _get(self, method: str, path: str, body: Any = None) -> Any:
        return (await Request(self.session, method, path, json=body).fetch()).json()

    @api_function
    async def list(self) -> Any:
        """Every resource preset: ``{"presets": [...]}``."""
        return await self._get("GET", "/resource/presets")

    @api_function
    async def check_presets(self) -> Any:
        """The presets with whether each fits now, and the requester's remaining slots."""
        return await self._get("POST", "/resource/check-presets")

    @api_function
    async def get_docker_registries(self) -> Any:
        return await self._get("GET", "/config/docker-registries")

    @api_function
    async def usage_per_month(self, month: str, group_ids: Sequence[str]) -> Any:
        body = {"month": month, "group_ids": list(group_ids)}
        return await self._get("GET", "/resource/usage/month", body)

    @api_function
    async def usage_per_period(self, group_id: str, start_date: str, end_date: str) -> Any:
        body = {"group_id": group_id, "start_date": start_date, "end_date": end_date}
        return await self._get("GET", "/resource/usage/period", body)

    @api_function
    async def get_resource_slots(self) -> Any:
        return await self._get("GET", "/config/resource-slots")

    @api_function
    async def get_vfolder_types(self) -> Any:
        return await self._get("GET", "/config/vfolder-types")

    @api_function
    async def recalculate_usage(self) -> Any:
        return await self._get("POST", "/resource/recalculate-usage")


class Scheduler(FunctionGroup[M]):
    @api_function
    async def operate(self, op: str, args: Any) -> None:
        """``include-agents`` / ``exclude-agents`` with a list of agent ids."""
        await Request(
            self.session, "POST", "/manager/scheduler/operation", json={"op": op, "args": args}
        ).fetch()
