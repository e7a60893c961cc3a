"""The per-request GraphQL context and the paging rule resolvers share.

Resolvers decide nothing about roles themselves: they ask ``backendai.manager.authz`` (the
authorization table) through the helpers here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from backendai.common.errors import GraphQLError, InvalidRequest
from backendai.manager import authz
from backendai.manager.authz import Action, Resource
from backendai.manager.context import ManagerContext
from backendai.manager.gql.limits import MAX_ROWS
from backendai.manager.services.auth import Principal

# The most rows one list field returns; a client pages for more.
MAX_PAGE = 1000

T = TypeVar("T")


@dataclass
class GQLContext:
    principal: Principal
    db: AsyncSession
    # List items this query may still return: aliases of a full page would otherwise
    # multiply one response (and the loop's time to render it) without bound.
    max_rows: int = MAX_ROWS
    rows: int = 0
    # The manager's services, for mutations that need more than the database (hashing a
    # password, asking an agent); None where a test runs resolvers on a bare session.
    manager: ManagerContext | None = None

    def charge(self, rows: Sequence[T]) -> Sequence[T]:
        """``rows``, counted against the query's row budget."""
        self.rows += len(rows)
        if self.rows > self.max_rows:
            raise GraphQLError(
                f"The query returns more than {self.max_rows} list items in all; page "
                "through them with smaller limits or fewer aliases."
            )
        return rows

    def visible(
        self, resource: Resource, action: Action, domain_name: str | None = None
    ) -> ColumnElement[bool]:
        """The rows of ``resource`` the caller may ``action``; a ``domain_name`` filter the
        caller may not look into is refused (from the name alone)."""
        if domain_name:
            authz.require_domain(self.principal, resource, action, domain_name)
        return authz.where(self.principal, resource, action)


def page(limit: int, offset: int) -> tuple[int, int]:
    """A list query's window, capped so that one query cannot read a whole table."""
    if limit < 0 or offset < 0:
        raise InvalidRequest("limit and offset must not be negative.")
    return min(limit, MAX_PAGE), offset
