"""``session.KeyPair``: the requester's keypair and the keypair list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function, api_generator
from backendai.client.func.pagination import paginate

DEFAULT_FIELDS = ("access_key", "secret_key", "is_active", "is_admin")
DEFAULT_LIST_FIELDS = ("access_key", "secret_key", "is_active", "is_admin", "created_at")


class KeyPair(FunctionGroup[M]):
    @api_function
    async def info(self, fields: Sequence[str] = DEFAULT_FIELDS) -> dict[str, Any] | None:
        """The requester's own keypair (the one that signs, or the login's in session mode)."""
        query = "query {  keypair {    " + " ".join(fields) + "  }}"
        data = await self.session.Admin.query(query)
        item = data.get("keypair")
        return item if isinstance(item, dict) else None

    @api_generator
    async def paginated_list(
        self,
        is_active: bool | None = None,
        domain_name: str | None = None,
        *,
        fields: Sequence[str] = DEFAULT_LIST_FIELDS,
        page_size: int = 20,
        filter: str | None = None,
        order: str | None = None,
        email: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every keypair the requester may see (all of them for a superadmin).

        ``email`` narrows the list to one user's keypairs; it is sent only when given, so
        the query otherwise equals the official client's.
        """
        variables: dict[str, tuple[Any, str]] = {
            "is_active": (is_active, "Boolean"),
            "domain_name": (domain_name, "String"),
        }
        if email is not None:
            variables["email"] = (email, "String")
        variables["filter"] = (filter, "String")
        variables["order"] = (order, "String")
        async for item in paginate(
            self.session, "keypair_list", variables, fields, page_size=page_size
        ):
            yield item
