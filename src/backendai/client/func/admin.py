"""``session.Admin``: raw GraphQL queries to the admin API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backendai.client.exceptions import (
    GRAPHQL_ERROR_TYPE,
    BackendAPIError,
    BackendClientError,
)
from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.request import Request

GQL_ENVELOPE_SINCE = (6, "20210815")


class Admin(FunctionGroup[M]):
    """GraphQL access; what a query may see depends on the requester's role."""

    @api_function
    async def query(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run one GraphQL query or mutation and return its ``data``.

        Raises BackendAPIError (400, ``graphql-error``) when the answer carries errors.
        """
        body = {"query": query, "variables": dict(variables) if variables else {}}
        if self.session.api_version < GQL_ENVELOPE_SINCE:
            # Older managers answer bare data on the legacy route.
            resp = await Request(self.session, "POST", "/admin/graphql", json=body).fetch()
            return _as_data(resp.json())
        resp = await Request(self.session, "POST", "/admin/gql", json=body).fetch()
        envelope = resp.json()
        if not isinstance(envelope, dict):
            raise BackendClientError(f"The GraphQL answer is not a JSON object: {envelope!r}")
        errors = envelope.get("errors")
        if errors:
            raise BackendAPIError(
                400,
                "Bad request",
                {
                    "type": GRAPHQL_ERROR_TYPE,
                    "title": "GraphQL-generated error",
                    "data": errors if isinstance(errors, list) else [errors],
                },
            )
        return _as_data(envelope.get("data"))


def _as_data(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BackendClientError(f"The GraphQL answer has no data object: {data!r}")
    return data
