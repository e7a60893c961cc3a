"""``session.KeyPair``: the requester's keypair and the keypair list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function, api_generator
from backendai.client.func.pagination import paginate
from backendai.client.func.props import props, result

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

    @api_function
    async def create(
        self,
        user_id: str,
        *,
        is_active: bool = True,
        is_admin: bool = False,
        resource_policy: str | None = None,
        rate_limit: int | None = None,
        fields: Sequence[str] = ("access_key", "secret_key"),
    ) -> dict[str, Any]:
        """``create_keypair`` for the user with email ``user_id``: ``{ok, msg, keypair}``;
        the answer carries the new secret key (shown this once to its creator)."""
        query = (
            "mutation($user_id: String!, $input: KeyPairInput!) {\n"
            "    create_keypair(user_id: $user_id, props: $input) {"
            f" ok msg keypair {{ {' '.join(fields)} }} }}\n"
            "}\n"
        )
        variables = {"user_id": user_id, "input": props(
            "KeyPairProps", is_active=is_active, is_admin=is_admin,
            resource_policy=resource_policy, rate_limit=rate_limit,
        )}  # fmt: skip
        return result(await self.session.Admin.query(query, variables), "create_keypair")

    @api_function
    async def update(
        self,
        access_key: str,
        *,
        is_active: bool | None = None,
        is_admin: bool | None = None,
        resource_policy: str | None = None,
        rate_limit: int | None = None,
    ) -> dict[str, Any]:
        """``modify_keypair``: only what is given (not None) changes."""
        return await self._modify(
            access_key, is_active=is_active, is_admin=is_admin,
            resource_policy=resource_policy, rate_limit=rate_limit,
        )  # fmt: skip

    @api_function
    async def activate(self, access_key: str) -> dict[str, Any]:
        return await self._modify(access_key, is_active=True)

    @api_function
    async def deactivate(self, access_key: str) -> dict[str, Any]:
        """Deactivated keypairs cannot make API requests until activated again."""
        return await self._modify(access_key, is_active=False)

    async def _modify(self, access_key: str, **values: Any) -> dict[str, Any]:
        query = (
            "mutation($access_key: String!, $input: ModifyKeyPairInput!) {\n"
            "    modify_keypair(access_key: $access_key, props: $input) { ok msg }\n"
            "}\n"
        )
        variables = {"access_key": access_key, "input": props("ModifyKeyPairProps", **values)}
        return result(await self.session.Admin.query(query, variables), "modify_keypair")

    @api_function
    async def delete(self, access_key: str) -> dict[str, Any]:
        query = (
            "mutation($access_key: String!) {\n"
            "    delete_keypair(access_key: $access_key) { ok msg }\n"
            "}\n"
        )
        variables = {"access_key": access_key}
        return result(await self.session.Admin.query(query, variables), "delete_keypair")
