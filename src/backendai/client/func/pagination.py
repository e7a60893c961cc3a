"""Paginated GraphQL list queries (``keypair_list``, ``user_list``, ``compute_session_list``).

The query text and the variable order are those Backend.AI's official client sends, so a
Backend.AI manager and ours see the same request::

    query($limit:Int!, $offset:Int!, $status: String, $filter: String, $order: String) {
      compute_session_list(
          limit:$limit, offset:$offset, status:$status, filter:$filter, order:$order) {
        items { name status }
        total_count
      }
    }
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from backendai.client.exceptions import BackendAPIVersionError, BackendClientError

if TYPE_CHECKING:
    from backendai.client.session import AsyncSession

MAX_PAGE_SIZE = 100
FILTER_ORDER_SINCE = (6, "20210815")

# variable name -> (value, GraphQL type)
Variables = dict[str, tuple[Any, str]]


def paginated_query(root_field: str, variables: Variables, fields: Sequence[str]) -> str:
    decls = "".join(f", ${name}: {gql_type}" for name, (_, gql_type) in variables.items())
    args = "".join(f", {name}:${name}" for name in variables)
    return (
        f"query($limit:Int!, $offset:Int!{decls}) {{\n"
        f"  {root_field}(\n"
        f"      limit:$limit, offset:$offset{args}) {{\n"
        f"    items {{ {' '.join(fields)} }}\n"
        f"    total_count\n"
        f"  }}\n"
        f"}}"
    )


async def paginate(
    session: AsyncSession,
    root_field: str,
    variables: Variables,
    fields: Sequence[str],
    *,
    page_size: int,
) -> AsyncIterator[dict[str, Any]]:
    """Yield every item of a paginated list, fetching ``page_size`` items per query."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"The page size must be between 1 and {MAX_PAGE_SIZE}.")
    variables = dict(variables)
    if session.api_version < FILTER_ORDER_SINCE:
        if variables.get("filter", (None,))[0] is not None or (
            variables.get("order", (None,))[0] is not None
        ):
            raise BackendAPIVersionError(
                "--filter and --order need a server with API v6.20210815 or later."
            )
        variables.pop("filter", None)
        variables.pop("order", None)
    query = paginated_query(root_field, variables, fields)
    offset = 0
    while True:
        values: dict[str, Any] = {name: value for name, (value, _) in variables.items()}
        values["limit"] = page_size
        values["offset"] = offset
        data = await session.Admin.query(query, values)
        page = data.get(root_field)
        if not isinstance(page, dict) or "total_count" not in page:
            raise BackendClientError(
                f"The server's {root_field} answer has no total_count: {page!r}"
            )
        total_count = int(page["total_count"] or 0)
        items = page.get("items") or []
        for item in items:
            yield item
        offset += page_size
        if offset >= total_count or not items:
            return
