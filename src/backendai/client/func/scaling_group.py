"""``session.ScalingGroup``: resource groups (scaling groups) and who may use them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.request import Request

DEFAULT_FIELDS = (
    "name", "description", "is_active", "created_at", "driver", "driver_opts", "scheduler",
    "scheduler_opts",
)  # fmt: skip


def _input(
    description: str,
    is_active: bool,
    driver: str | None,
    driver_opts: Mapping[str, Any] | str | None,
    scheduler: str | None,
    scheduler_opts: Mapping[str, Any] | str | None,
) -> dict[str, Any]:
    return {
        "description": description, "is_active": is_active, "driver": driver,
        "driver_opts": json.dumps(driver_opts), "scheduler": scheduler,
        "scheduler_opts": json.dumps(scheduler_opts),
    }  # fmt: skip


class ScalingGroup(FunctionGroup[M]):
    @api_function
    async def list_available(self, group: str) -> Any:
        """The scaling groups the requester may start sessions in for ``group``."""
        resp = await Request(
            self.session, "GET", "/scaling-groups", params={"group": group}
        ).fetch()
        return resp.json()

    @api_function
    async def list(self, fields: Sequence[str] = DEFAULT_FIELDS) -> list[dict[str, Any]]:
        query = (
            "query($is_active: Boolean) {\n    scaling_groups(is_active: $is_active) {\n"
            f"        {' '.join(fields)}\n    }}\n}}\n"
        )
        data = await self.session.Admin.query(query, {"is_active": None})
        return list(data.get("scaling_groups") or [])

    @api_function
    async def detail(
        self, name: str | None, fields: Sequence[str] = DEFAULT_FIELDS
    ) -> dict[str, Any] | None:
        query = (
            f"query($name: String) {{\n    scaling_group(name: $name) {{{' '.join(fields)}}}\n}}\n"
        )
        data = await self.session.Admin.query(query, {"name": name})
        item = data.get("scaling_group")
        return item if isinstance(item, dict) else None

    @api_function
    async def create(
        self,
        name: str,
        description: str = "",
        is_active: bool = True,
        driver: str | None = None,
        driver_opts: Mapping[str, Any] | str | None = None,
        scheduler: str | None = None,
        scheduler_opts: Mapping[str, Any] | str | None = None,
        fields: Sequence[str] = ("name",),
    ) -> dict[str, Any]:
        query = (
            "mutation($name: String!, $input: CreateScalingGroupInput!) {\n"
            "    create_scaling_group(name: $name, props: $input) {\n"
            f"        ok msg scaling_group {{{' '.join(fields)}}}\n    }}\n}}\n"
        )
        props = _input(description, is_active, driver, driver_opts, scheduler, scheduler_opts)
        data = await self.session.Admin.query(query, {"name": name, "input": props})
        return dict(data["create_scaling_group"])

    @api_function
    async def update(
        self,
        name: str,
        description: str = "",
        is_active: bool = True,
        driver: str | None = None,
        driver_opts: Mapping[str, Any] | str | None = None,
        scheduler: str | None = None,
        scheduler_opts: Mapping[str, Any] | str | None = None,
    ) -> dict[str, Any]:
        query = (
            "mutation($name: String!, $input: ModifyScalingGroupInput!) {\n"
            "    modify_scaling_group(name: $name, props: $input) {\n"
            "        ok msg\n    }\n}\n"
        )
        props = _input(description, is_active, driver, driver_opts, scheduler, scheduler_opts)
        data = await self.session.Admin.query(query, {"name": name, "input": props})
        return dict(data["modify_scaling_group"])

    @api_function
    async def delete(self, name: str) -> dict[str, Any]:
        query = (
            "mutation($name: String!) {\n    delete_scaling_group(name: $name) {\n"
            "        ok msg\n    }\n}\n"
        )
        data = await self.session.Admin.query(query, {"name": name})
        return dict(data["delete_scaling_group"])

    async def _link(
        self, mutation: str, decls: str, args: str, values: dict[str, Any]
    ) -> dict[str, Any]:
        query = f"mutation({decls}) {{\n    {mutation}({args}) {{\n        ok msg\n    }}\n}}\n"
        data = await self.session.Admin.query(query, values)
        return dict(data[mutation])

    @api_function
    async def associate_domain(self, scaling_group: str, domain: str) -> dict[str, Any]:
        return await self._link(
            "associate_scaling_group_with_domain",
            "$scaling_group: String!, $domain: String!",
            "scaling_group: $scaling_group, domain: $domain",
            {"scaling_group": scaling_group, "domain": domain},
        )

    @api_function
    async def dissociate_domain(self, scaling_group: str, domain: str) -> dict[str, Any]:
        return await self._link(
            "disassociate_scaling_group_with_domain",
            "$scaling_group: String!, $domain: String!",
            "scaling_group: $scaling_group, domain: $domain",
            {"scaling_group": scaling_group, "domain": domain},
        )

    @api_function
    async def dissociate_all_domain(self, domain: str) -> dict[str, Any]:
        return await self._link(
            "disassociate_all_scaling_groups_with_domain",
            "$domain: String!",
            "domain: $domain",
            {"domain": domain},
        )

    @api_function
    async def associate_group(self, scaling_group: str, group_id: str) -> dict[str, Any]:
        return await self._link(
            "associate_scaling_group_with_user_group",
            "$scaling_group: String!, $user_group: UUID!",
            "scaling_group: $scaling_group, user_group: $user_group",
            {"scaling_group": scaling_group, "user_group": group_id},
        )

    @api_function
    async def dissociate_group(self, scaling_group: str, group_id: str) -> dict[str, Any]:
        return await self._link(
            "disassociate_scaling_group_with_user_group",
            "$scaling_group: String!, $user_group: String!",
            "scaling_group: $scaling_group, user_group: $user_group",
            {"scaling_group": scaling_group, "user_group": group_id},
        )

    @api_function
    async def dissociate_all_group(self, group_id: str) -> dict[str, Any]:
        return await self._link(
            "disassociate_all_scaling_groups_with_group",
            "$group_id: UUID!",
            "user_group: $group_id",
            {"group_id": group_id},
        )

    @api_function
    async def associate_keypair(self, scaling_group: str, access_key: str) -> dict[str, Any]:
        return await self._link(
            "associate_scaling_group_with_keypair",
            "$scaling_group: String!, $access_key: String!",
            "scaling_group: $scaling_group, access_key: $access_key",
            {"scaling_group": scaling_group, "access_key": access_key},
        )

    @api_function
    async def dissociate_keypair(self, scaling_group: str, access_key: str) -> dict[str, Any]:
        return await self._link(
            "disassociate_scaling_group_with_keypair",
            "$scaling_group: String!, $access_key: String!",
            "scaling_group: $scaling_group, access_key: $access_key",
            {"scaling_group": scaling_group, "access_key": access_key},
        )
