"""``session.User``: one user and the user list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from backendai.client.func.binding import FunctionGroup, M, api_function, api_generator
from backendai.client.func.pagination import paginate

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
