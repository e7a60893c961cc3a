"""Running a mutation's service call in the query's database session: committed when it
succeeds, rolled back when it fails (so a refused mutation leaves nothing half-written, and a
later field of the same document sees none of it)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from backendai.manager.gql.context import GQLContext

T = TypeVar("T")


async def committed(ctx: GQLContext, work: Awaitable[T]) -> T:
    try:
        result = await work
        await ctx.db.commit()
    except BaseException:
        await ctx.db.rollback()
        raise
    return result
