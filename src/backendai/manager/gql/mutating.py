"""What mutations share: a GraphQL input read as its payload model (``props_of``), and a
service call run in the query's database session (``committed``): committed when it succeeds,
rolled back when it fails (so a refused mutation leaves nothing half-written, and a later field
of the same document sees none of it)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import strawberry
from pydantic import BaseModel

from backendai.manager.gql.context import GQLContext
from backendai.manager.validation import validate

T = TypeVar("T")
P = TypeVar("P", bound=BaseModel)


def props_of(model: type[P], data: object) -> P:
    """A GraphQL input as its payload model; a null field is an absent one."""
    values = {k: v for k, v in vars(data).items() if v is not None and v is not strawberry.UNSET}
    return validate(model, values)


async def committed(ctx: GQLContext, work: Awaitable[T]) -> T:
    try:
        result = await work
        await ctx.db.commit()
    except BaseException:
        await ctx.db.rollback()
        raise
    return result
