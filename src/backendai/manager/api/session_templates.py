"""``/template/session`` (API_CONTRACT §7) and ``POST /session/_/create-from-template``
(§2.11): session templates, and sessions started from one."""

from __future__ import annotations

import yaml
from aiohttp import web
from pydantic import BaseModel, Field

from backendai.common.errors import InvalidRequest
from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import check_text, parse_params
from backendai.manager.context import context_of
from backendai.manager.services.session_template_request import CreateFromTemplateRequest
from backendai.manager.services.session_templates import SessionTemplateService

# Longer than the 64 KiB a template may have: the service says why a payload is refused.
_PAYLOAD_MAX = 1024 * 1024


class CreateBody(BaseModel):
    payload: str = Field(max_length=_PAYLOAD_MAX, description="The template, YAML or JSON text.")
    domain_name: str | None = Field(default=None, max_length=64)
    group_name: str | None = Field(default=None, max_length=64)
    owner_access_key: str | None = Field(default=None, max_length=64)


class UpdateBody(BaseModel):
    payload: str = Field(max_length=_PAYLOAD_MAX)
    owner_access_key: str | None = Field(default=None, max_length=64)


class ListBody(BaseModel):
    all: bool = False


def _service(request: web.Request) -> SessionTemplateService:
    return SessionTemplateService(context_of(request).db)


def _template_id(request: web.Request) -> str:
    template_id = request.match_info["template_id"]
    check_text(template_id)
    return template_id


def _owner(request: web.Request, given: str | None = None) -> str | None:
    owner = given or request.query.get("owner_access_key") or None
    check_text(owner)
    return owner


async def create(request: web.Request) -> web.Response:
    body = await parse_params(request, CreateBody)
    template_id, user = await _service(request).create(
        principal_of(request), body.payload, domain_name=body.domain_name,
        group_name=body.group_name, owner_access_key=_owner(request, body.owner_access_key),
    )  # fmt: skip
    return web.json_response({"id": template_id, "user": user.hex})


async def list_templates(request: web.Request) -> web.Response:
    body = await parse_params(request, ListBody)
    return web.json_response(await _service(request).list(principal_of(request), all_=body.all))


async def get(request: web.Request) -> web.Response:
    fmt = request.query.get("format", "yaml").lower()
    if fmt not in ("yaml", "json"):
        raise InvalidRequest(f"Unknown format {fmt[:16]!r}: use yaml or json.")
    doc = await _service(request).get(principal_of(request), _template_id(request), _owner(request))
    if fmt == "json":
        return web.json_response(doc)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    return web.Response(text=text, content_type="text/yaml")


async def update(request: web.Request) -> web.Response:
    body = await parse_params(request, UpdateBody)
    await _service(request).update(
        principal_of(request), _template_id(request), body.payload,
        _owner(request, body.owner_access_key),
    )  # fmt: skip
    return web.json_response({"success": True})


async def delete(request: web.Request) -> web.Response:
    await _service(request).delete(principal_of(request), _template_id(request), _owner(request))
    return web.json_response({"success": True})


async def create_from_template(request: web.Request) -> web.Response:
    params = await parse_params(request, CreateFromTemplateRequest)
    principal = principal_of(request)
    session_request = await _service(request).session_from_template(principal, params)
    result = await context_of(request).sessions.create(principal, session_request)
    return web.json_response(result.wire(), status=201 if result.created else 200)


def setup(app: web.Application) -> None:
    app.router.add_post("/template/session", create)
    app.router.add_get("/template/session", list_templates)
    app.router.add_get("/template/session/{template_id}", get)
    app.router.add_put("/template/session/{template_id}", update)
    app.router.add_delete("/template/session/{template_id}", delete)
    # Before ``session.setup``: ``/session/{name}`` must not take ``_`` for a session name.
    app.router.add_post("/session/_/create-from-template", create_from_template)
