"""``session.User``: one user and the user list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function, api_generator
from backendai.client.func.pagination import paginate
from backendai.client.func.props import props, result

DEFAULT_FIELDS = (
    "uuid", "username", "role", "email", "full_name", "need_password_change",
    "status", "status_info", "created_at", "domain_name",
)  # fmt: skip


class User(FunctionGroup[M]):
    @api_function
    async def detail(
        self, email: str | None = None, fields: Sequence[str] = DEFAULT_FIELDS
    ) -> dict[str, Any] | None:
        """The user with ``email``, or the requester when it is None; None if not found."""
        selection = " ".join(fields)
        if email is None:
            query = f"query {{\n    user {{{selection}}}\n}}\n"
            data = await self.session.Admin.query(query)
        else:
            query = f"query($email: String) {{\n    user(email: $email) {{{selection}}}\n}}\n"
            data = await self.session.Admin.query(query, {"email": email})
        item = data.get("user")
        return item if isinstance(item, dict) else None

    @api_generator
    async def paginated_list(
        self,
        status: str | None = None,
        group: str | None = None,
        *,
        fields: Sequence[str] = DEFAULT_FIELDS,
        page_size: int = 20,
        filter: str | None = None,
        order: str | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Users in ``status`` and/or group ``group`` (a group UUID)."""
        variables = {
            "status": (status, "String"),
            "group_id": (group, "UUID"),
            "filter": (filter, "String"),
            "order": (order, "String"),
        }
        async for item in paginate(
            self.session, "user_list", variables, fields, page_size=page_size
        ):
            yield item

    @api_function
    async def create(
        self,
        domain_name: str,
        email: str,
        password: str,
        *,
        username: str | None = None,
        full_name: str | None = None,
        role: str = "user",
        status: str = "active",
        need_password_change: bool = False,
        description: str | None = None,
        group_ids: Sequence[str] | None = None,
        fields: Sequence[str] = ("domain_name", "email", "username"),
    ) -> dict[str, Any]:
        """``create_user``: ``{ok, msg, user}`` (a refusal raises BackendAPIError)."""
        query = (
            "mutation($email: String!, $input: UserInput!) {\n"
            f"    create_user(email: $email, props: $input) {{\n"
            f"        ok msg user {{{' '.join(fields)}}}\n"
            "    }\n"
            "}\n"
        )
        variables = {"email": email, "input": props(
            "UserProps", password=password, username=username or None, full_name=full_name,
            role=role, status=status, need_password_change=need_password_change,
            description=description, domain_name=domain_name, group_ids=group_ids,
        )}  # fmt: skip
        return result(await self.session.Admin.query(query, variables), "create_user")

    @api_function
    async def update(
        self,
        email: str,
        *,
        password: str | None = None,
        username: str | None = None,
        full_name: str | None = None,
        domain_name: str | None = None,
        role: str | None = None,
        status: str | None = None,
        need_password_change: bool | None = None,
        description: str | None = None,
        group_ids: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """``modify_user``: only what is given (not None) changes."""
        query = (
            "mutation($email: String!, $input: ModifyUserInput!) {\n"
            "    modify_user(email: $email, props: $input) { ok msg }\n"
            "}\n"
        )
        variables = {"email": email, "input": props(
            "ModifyUserProps", password=password, username=username, full_name=full_name,
            domain_name=domain_name, role=role, status=status,
            need_password_change=need_password_change, description=description,
            group_ids=group_ids,
        )}  # fmt: skip
        return result(await self.session.Admin.query(query, variables), "modify_user")

    @api_function
    async def delete(self, email: str) -> dict[str, Any]:
        """``delete_user``: inactivate the user."""
        query = "mutation($email: String!) {\n    delete_user(email: $email) { ok msg }\n}\n"
        return result(await self.session.Admin.query(query, {"email": email}), "delete_user")

    @api_function
    async def purge(self, email: str, purge_shared_vfolders: bool = False) -> dict[str, Any]:
        """``purge_user``: delete the user for good."""
        query = (
            "mutation($email: String!, $input: PurgeUserInput!) {\n"
            "    purge_user(email: $email, props: $input) { ok msg }\n"
            "}\n"
        )
        variables = {"email": email, "input": {"purge_shared_vfolders": purge_shared_vfolders}}
        return result(await self.session.Admin.query(query, variables), "purge_user")
