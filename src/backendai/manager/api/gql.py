"""POST /admin/gql (``{"data", "errors"}`` envelope) and the legacy /admin/graphql.

The request is bounded before anything decodes it (``gql/limits.py`` says why and how far):
the body is read up to ``MAX_BODY_BYTES`` only, the query text must fit ``MAX_QUERY_BYTES``, and
the whole execution gets ``TIME_BUDGET_S``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web
from graphql import GraphQLError as GraphQLCoreError
from pydantic import BaseModel, Field

from backendai.common.errors import GraphQLError, InvalidRequest, PlatformError
from backendai.manager.api.auth import principal_of
from backendai.manager.api.params import check_text, validate
from backendai.manager.context import context_of
from backendai.manager.gql import limits
from backendai.manager.gql.context import GQLContext
from backendai.manager.gql.schema import schema

log = logging.getLogger(__name__)


class GQLRequest(BaseModel):
    query: str = Field(min_length=1, description="The GraphQL document.")
    variables: dict[str, Any] | None = None
    operation_name: str | None = Field(default=None, alias="operationName")


def _too_large(what: str, limit: int) -> GraphQLError:
    return GraphQLError(
        f"The GraphQL {what} is larger than {limit // 1024} KiB; ask for less in one query."
    )


async def _read_body(request: web.Request) -> bytes:
    """At most ``MAX_BODY_BYTES`` of the body; a larger one is refused unread."""
    if (request.content_length or 0) > limits.MAX_BODY_BYTES:
        raise _too_large("request body", limits.MAX_BODY_BYTES)
    raw = bytearray()
    while chunk := await request.content.read(64 * 1024):
        raw += chunk
        if len(raw) > limits.MAX_BODY_BYTES:
            raise _too_large("request body", limits.MAX_BODY_BYTES)
    return bytes(raw)


async def _params(request: web.Request) -> GQLRequest:
    raw = await _read_body(request)
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as e:  # RecursionError: JSON nested past Python's stack
        raise InvalidRequest(
            f"The request body is not valid JSON ({str(e)[:200]}). Send a JSON object: "
            '{"query": "...", "variables": {...}}.'
        ) from e
    check_text(body)  # variables: no NUL or lone surrogate reaches the database
    params = validate(GQLRequest, body)
    if len(params.query.encode()) > limits.MAX_QUERY_BYTES:
        raise _too_large("query", limits.MAX_QUERY_BYTES)
    return params


async def _execute(request: web.Request) -> tuple[Any, list[dict[str, Any]] | None]:
    params = await _params(request)
    budget = limits.TIME_BUDGET_S
    try:
        async with asyncio.timeout(budget), context_of(request).db() as db:
            result = await schema.execute(
                params.query,
                variable_values=params.variables,
                operation_name=params.operation_name,
                context_value=GQLContext(
                    principal_of(request), db, limits.MAX_ROWS, manager=context_of(request)
                ),
            )
    except TimeoutError as e:
        raise GraphQLError(
            f"The query ran longer than {budget:g} s and was stopped; ask for fewer items or "
            "fields in one query."
        ) from e
    errors = None
    if result.errors:
        errors = []
        for err in result.errors:
            original = err.original_error
            item: dict[str, Any] = {"message": err.message}
            if isinstance(original, PlatformError):
                item["message"] = original.msg or original.title
                item["extensions"] = {"code": original.code}
            elif err.path and original is not None and not isinstance(original, GraphQLCoreError):
                # A resolver failed unexpectedly: its message may carry SQL or driver details.
                log.error("GraphQL %s failed", err.path, exc_info=original)
                item["message"] = "The server hit an unexpected error; it has been logged."
                item["extensions"] = {"code": "internal-server-error"}
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
