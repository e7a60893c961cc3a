"""POST /admin/gql (``{"data", "errors"}`` envelope) and the legacy /admin/graphql."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from backendai.common.errors import PlatformError
from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import parse_params
from backendai.manager.context import context_of
from backendai.manager.gql.context import GQLContext
from backendai.manager.gql.schema import schema


class GQLRequest(BaseModel):
    query: str = Field(min_length=1, description="The GraphQL document.")
    variables: dict[str, Any] | None = None
    operation_name: str | None = Field(default=None, alias="operationName")


async def _execute(request: web.Request) -> tuple[Any, list[dict[str, Any]] | None]:
    params = await parse_params(request, GQLRequest)
    async with context_of(request).db() as db:
        result = await schema.execute(
            params.query,
            variable_values=params.variables,
            operation_name=params.operation_name,
            context_value=GQLContext(principal=principal_of(request), db=db),
        )
    errors = None
    if result.errors:
        errors = []
        for err in result.errors:
            original = err.original_error
            item: dict[str, Any] = {"message": err.message}
            if isinstance(original, PlatformError):
                item["message"] = original.msg or original.title
                item["extensions"] = {"code": original.code}
            if err.path:
                item["path"] = err.path
            errors.append(item)
    return result.data, errors


async def gql(request: web.Request) -> web.Response:
    data, errors = await _execute(request)
    return web.json_response({"data": data, "errors": errors})


async def graphql_legacy(request: web.Request) -> web.Response:
    """Clients negotiating API < v6.20210815 expect bare data and errors as a problem."""
    data, errors = await _execute(request)
    if errors:
        return web.json_response(
            {
                "type": "https://api.backend.ai/probs/graphql-error",
                "title": "GraphQL-generated error",
                "data": errors,
            },
            status=400,
            content_type="application/problem+json",
        )
    return web.json_response(data)


def setup(app: web.Application) -> None:
    app.router.add_post("/admin/gql", gql)
    app.router.add_post("/admin/graphql", graphql_legacy)
