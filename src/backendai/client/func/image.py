"""``session.Image``: the image list, rescans, aliases (the documents Backend.AI's client
20.9.9 sends), removing a private image, and committing a session to a private image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.request import Request

if TYPE_CHECKING:  # pydantic loads only when a commit is made (`run` starts fast)
    from backendai.common.image_commit import CommitSessionResult

DEFAULT_FIELDS = ("name", "tag", "hash")


class Image(FunctionGroup[M]):
    @api_function
    async def list(
        self, operation: bool = False, fields: Sequence[str] = DEFAULT_FIELDS
    ) -> list[dict[str, Any]]:
        """The images the requester may see (``operation``: operational images only)."""
        query = (
            "query($is_operation: Boolean) {  images(is_operation: $is_operation) {    "
            + " ".join(fields)
            + "  }}"
        )
        data = await self.session.Admin.query(query, {"is_operation": operation})
        return list(data.get("images") or [])

    @api_function
    async def rescan_images(self, registry: str | None = None) -> dict[str, Any]:
        """Read the agents' images (and a configured registry's) now: ``{ok, msg, task_id}``."""
        query = (
            "mutation($registry: String) {  rescan_images(registry:$registry) {"
            "   ok msg task_id  }}"
        )
        data = await self.session.Admin.query(query, {"registry": registry})
        return dict(data["rescan_images"])

    @api_function
    async def alias_image(self, alias: str, target: str) -> dict[str, Any]:
        query = (
            "mutation($alias: String!, $target: String!) {"
            "  alias_image(alias: $alias, target: $target) {   ok msg  }}"
        )
        data = await self.session.Admin.query(query, {"alias": alias, "target": target})
        return dict(data["alias_image"])

    @api_function
    async def dealias_image(self, alias: str) -> dict[str, Any]:
        query = "mutation($alias: String!) {  dealias_image(alias: $alias) {   ok msg  }}"
        data = await self.session.Admin.query(query, {"alias": alias})
        return dict(data["dealias_image"])

    @api_function
    async def delete_image(self, reference: str) -> dict[str, Any]:
        """Remove a private image (a committed session) from the agents and the platform."""
        query = "mutation($reference: String!) { delete_image(reference: $reference) { ok msg } }"
        data = await self.session.Admin.query(query, {"reference": reference})
        return dict(data["delete_image"])

    @api_function
    async def commit_session(
        self,
        session_name: str,
        *,
        owner_access_key: str | None = None,
        image_name: str | None = None,
        tag: str | None = None,
        share_with_group: bool = False,
    ) -> CommitSessionResult:
        """Commit a running session's container to a new private image of its owner."""
        from backendai.common.image_commit import CommitSessionRequest, CommitSessionResult

        body = CommitSessionRequest(
            image_name=image_name, tag=tag, share_with_group=share_with_group
        )
        params = {"owner_access_key": owner_access_key} if owner_access_key else None
        resp = await Request(
            self.session, "POST", f"/session/{quote(session_name, safe='')}/commit",
            params=params, json=body.model_dump(mode="json", exclude_none=True),
        ).fetch()  # fmt: skip
        return CommitSessionResult.model_validate(resp.json())
