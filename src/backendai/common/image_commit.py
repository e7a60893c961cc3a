"""Committing a session to a private image: the request and the answer, for the manager's
``POST /session/{name}/commit`` and the SDK alike."""

from __future__ import annotations

from pydantic import BaseModel, Field

# Docker's grammar for one path component of a repository, and for a tag.
REPOSITORY_COMPONENT = r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$"
TAG = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"


class CommitSessionRequest(BaseModel):
    image_name: str | None = Field(
        default=None,
        max_length=64,
        pattern=REPOSITORY_COMPONENT,
        description="The new image's short name (lowercase); default: the session image's.",
    )
    tag: str | None = Field(
        default=None,
        pattern=TAG,
        description="The new image's tag; default: the session name and the time.",
    )
    share_with_group: bool = Field(
        default=False, description="Let the members of the session's group use the image too."
    )


class CommitSessionResult(BaseModel):
    image: str = Field(description="The new image's full name, as `run` and `start` take it.")
    owner: str = Field(description="The owner's email: the session's owner.")
    group: str | None = Field(default=None, description="The group that may use it too.")
    digest: str
    size_bytes: int
