"""``/session/_/sweeps``: server-side parametric sweeps (``common.batch_tasks``, "Sweeps")."""

from __future__ import annotations

import uuid

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from backendai.common.batch_tasks import SESSION_SWEEP, SESSION_SWEEPS, SweepRequest
from backendai.common.errors import InvalidRequest
from backendai.common.session_request import CreateSessionRequest
from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import parse_params, validate
from backendai.manager.context import context_of
from backendai.manager.services.sweep_plan import session_fields
from backendai.manager.services.sweeps import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT


class ListParams(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    limit: int = Field(default=DEFAULT_LIST_LIMIT, ge=1, le=MAX_LIST_LIMIT)
    owner_access_key: str | None = Field(default=None, min_length=1, max_length=256)


def _sweep_id(request: web.Request) -> uuid.UUID:
    raw = request.match_info["sweep_id"]
    try:
        return uuid.UUID(raw)
    except ValueError:
        shown = raw if len(raw) <= 64 else raw[:64] + "..."
        raise InvalidRequest(
            f"Invalid sweep id {shown!r}: a sweep id is the UUID that creating the sweep "
            "answered (GET /session/_/sweeps lists them).",
            data={"sweep_id": "not a UUID"},
        ) from None


async def create(request: web.Request) -> web.Response:
    req = await parse_params(request, SweepRequest)
    base = validate(CreateSessionRequest, session_fields(req))
    info = await context_of(request).sweeps.create(principal_of(request), req, base)
    return web.json_response(info.model_dump(mode="json", by_alias=True), status=201)


async def list_sweeps(request: web.Request) -> web.Response:
    params = await parse_params(request, ListParams)
    sweeps = await context_of(request).sweeps.listing(
        principal_of(request), params.owner_access_key, params.limit
    )
    return web.json_response({"sweeps": [s.model_dump(mode="json") for s in sweeps]})


async def info(request: web.Request) -> web.Response:
    sweep = await context_of(request).sweeps.get(principal_of(request), _sweep_id(request))
    return web.json_response(sweep.model_dump(mode="json", by_alias=True))


async def cancel(request: web.Request) -> web.Response:
    sweep = await context_of(request).sweeps.cancel(principal_of(request), _sweep_id(request))
    return web.json_response(sweep.model_dump(mode="json", by_alias=True))


def setup(app: web.Application) -> None:
    """Before ``session.setup``: ``/session/{name}/...`` must not take these paths."""
    app.router.add_post(SESSION_SWEEPS, create)
    app.router.add_get(SESSION_SWEEPS, list_sweeps)
    app.router.add_get(SESSION_SWEEP, info)
    app.router.add_delete(SESSION_SWEEP, cancel)
