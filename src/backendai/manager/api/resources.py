"""``/resource/...``, ``/config/...``, ``/scaling-groups`` and the scheduler operation: the REST
side of resource administration, as Backend.AI's client 20.9.9 calls it (GET with JSON bodies
included)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import parse_params
from backendai.manager.context import context_of
from backendai.manager.services import agent_admin, presets, resource_config, usage
from backendai.manager.services import scaling_groups as sgroups
from backendai.manager.services.agent_admin import SchedulerOperation
from backendai.manager.services.presets import CheckPresetsRequest
from backendai.manager.services.unit_of_work import transact
from backendai.manager.services.usage import UsagePerMonth, UsagePerPeriod


async def list_presets(request: web.Request) -> web.Response:
    found = await transact(context_of(request).db, presets.list_presets, principal_of(request))
    return web.json_response({"presets": [presets.render(p) for p in found]})


async def check_presets(request: web.Request) -> web.Response:
    params = await parse_params(request, CheckPresetsRequest)
    result = await transact(
        context_of(request).db, presets.check_presets, principal_of(request), params
    )
    return web.json_response(result)


async def usage_per_month(request: web.Request) -> web.Response:
    params = await parse_params(request, UsagePerMonth)
    result = await transact(context_of(request).db, usage.per_month, principal_of(request), params)
    return web.json_response(result)


async def usage_per_period(request: web.Request) -> web.Response:
    params = await parse_params(request, UsagePerPeriod)
    result = await transact(context_of(request).db, usage.per_period, principal_of(request), params)
    return web.json_response(result)


async def recalculate_usage(request: web.Request) -> web.Response:
    ctx = context_of(request)
    result = await transact(ctx.db, agent_admin.recalculate_usage, principal_of(request))
    ctx.scheduler.trigger()  # freed slots may let waiting sessions start
    return web.json_response({"agents": result})


async def resource_slots(request: web.Request) -> web.Response:
    return web.json_response(resource_config.resource_slots(principal_of(request)))


async def vfolder_types(request: web.Request) -> web.Response:
    return web.json_response(resource_config.vfolder_types(principal_of(request)))


async def docker_registries(request: web.Request) -> web.Response:
    result = await transact(
        context_of(request).db, resource_config.docker_registries, principal_of(request)
    )
    return web.json_response(result)


async def scheduler_operation(request: web.Request) -> web.Response:
    ctx = context_of(request)
    params = await parse_params(request, SchedulerOperation)
    await transact(ctx.db, agent_admin.set_schedulable, principal_of(request), params)
    ctx.scheduler.trigger()  # an included agent may take waiting sessions
    return web.Response(status=204)


class AvailableScalingGroups(BaseModel):
    group: str = Field(description="The group (project) name or id the session would run in.")


async def available_scaling_groups(request: web.Request) -> web.Response:
    params = await parse_params(request, AvailableScalingGroups)
    names: list[Any] = await transact(
        context_of(request).db, sgroups.available_to, principal_of(request), params.group
    )
    return web.json_response({"scaling_groups": [{"name": n} for n in names]})


def setup(app: web.Application) -> None:
    app.router.add_get("/resource/presets", list_presets)
    app.router.add_post("/resource/check-presets", check_presets)
    app.router.add_get("/resource/usage/month", usage_per_month)
    app.router.add_get("/resource/usage/period", usage_per_period)
    app.router.add_post("/resource/recalculate-usage", recalculate_usage)
    app.router.add_get("/config/resource-slots", resource_slots)
    app.router.add_get("/config/vfolder-types", vfolder_types)
    app.router.add_get("/config/docker-registries", docker_registries)
    app.router.add_post("/manager/scheduler/operation", scheduler_operation)
    app.router.add_get("/scaling-groups", available_scaling_groups)
