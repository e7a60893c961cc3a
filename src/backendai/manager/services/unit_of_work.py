"""One transaction around one use case, so that API handlers call services without holding a
database session themselves."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

P = ParamSpec("P")
T = TypeVar("T")


async def transact(
    factory: async_sessionmaker[AsyncSession],
    work: Callable[Concatenate[AsyncSession, P], Awaitable[T]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """``work(db, ...)`` in a transaction: committed if it returns, rolled back if it raises."""
    async with factory() as db, db.begin():
        return await work(db, *args, **kwargs)
