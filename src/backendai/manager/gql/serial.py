"""One database operation at a time per GraphQL request.

graphql-core resolves the fields of a query (and the items of a list) concurrently, while all
the resolvers of a request share its one ``AsyncSession``, which allows one operation at a
time: two fields asked together (the web UI's ``user`` and ``keypair``) failed now and then
with "This session is provisioning a new connection" (a 500), and two statements could
interleave on one connection. Each async resolver runs whole under the request's lock; sync
ones (plain attributes, most fields) are not touched.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from graphql import GraphQLResolveInfo
from strawberry.extensions import SchemaExtension
from strawberry.utils.await_maybe import AwaitableOrValue


class OneResolverAtATime(SchemaExtension):
    def __init__(self, *, execution_context: Any = None) -> None:
        super().__init__(execution_context=execution_context)
        self._lock = asyncio.Lock()

    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: str,
        **kwargs: Any,
    ) -> AwaitableOrValue[object]:
        result: object = _next(root, info, *args, **kwargs)
        if inspect.isawaitable(result):
            return self._alone(result)
        return result

    async def _alone(self, awaitable: Awaitable[object]) -> object:
        async with self._lock:
            return await awaitable
