"""The payloads of the identity mutations (users, keypairs, domains, groups), defined once.

Field names are those of Backend.AI's GraphQL inputs (``UserInput``, ``ModifyUserInput``,
``KeyPairInput``, ...), so the manager validates what a client sends with these models and
our client builds its variables from them. On the ``Modify*`` models a field left None keeps
its value, exactly as Backend.AI's client means a null.
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backendai.common.statuses import UserRole, UserStatus

# A domain's name: what may stand in a URL and a label without quoting.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")

# What a keypair gets where the request names no rate limit (Backend.AI's default).
DEFAULT_RATE_LIMIT = 10000


def check_email(email: str) -> str:
    if not EMAIL_RE.match(email) or len(email) > 64:
        raise ValueError(f"{email!r} is not an email address (at most 64 characters).")
    return email


def check_name(name: str, what: str) -> str:
    if not NAME_RE.match(name):
        raise ValueError(
            f"{name!r} is not a valid {what} name: letters, digits, '.', '_' and '-', "
            "starting with a letter or digit, at most 64 characters."
        )
    return name


def parse_slots(value: Any) -> dict[str, str] | None:
    """``total_resource_slots`` as clients send it (a JSON object, or a string of one) as
    slot name -> decimal string; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError as e:
            raise ValueError(f"total_resource_slots is not JSON: {e}.") from e
    if not isinstance(value, dict):
        raise ValueError('total_resource_slots must be a JSON object like {"cpu": "4"}.')
    slots: dict[str, str] = {}
    for name, amount in value.items():
        try:
            slots[str(name)] = str(Decimal(str(amount)))
        except InvalidOperation as e:
            raise ValueError(f"total_resource_slots.{name}: {amount!r} is not a number.") from e
    return slots


class _Props(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserProps(_Props):
    """``create_user(email, props: UserInput)``."""

    password: str = Field(min_length=1, max_length=256)
    username: str | None = Field(default=None, max_length=64)
    full_name: str | None = Field(default=None, max_length=64)
    role: UserRole = UserRole.USER
    status: UserStatus | None = None
    is_active: bool | None = None  # clients older than 20.03 send this instead of status
    need_password_change: bool = False
    description: str | None = Field(default=None, max_length=500)
    domain_name: str = "default"
    group_ids: list[uuid.UUID] | None = None


class ModifyUserProps(_Props):
    """``modify_user(email, props: ModifyUserInput)``."""

    password: str | None = Field(default=None, min_length=1, max_length=256)
    username: str | None = Field(default=None, max_length=64)
    full_name: str | None = Field(default=None, max_length=64)
    domain_name: str | None = None
    role: UserRole | None = None
    status: UserStatus | None = None
    is_active: bool | None = None
    need_password_change: bool | None = None
    description: str | None = Field(default=None, max_length=500)
    group_ids: list[uuid.UUID] | None = None


class PurgeUserProps(_Props):
    purge_shared_vfolders: bool | None = False


class KeyPairProps(_Props):
    """``create_keypair(user_id, props: KeyPairInput)``."""

    is_active: bool | None = True
    is_admin: bool | None = False
    resource_policy: str | None = None  # "default" when None
    concurrency_limit: int | None = None  # older clients; the policy decides
    rate_limit: int | None = Field(default=None, ge=0)


class ModifyKeyPairProps(_Props):
    is_active: bool | None = None
    is_admin: bool | None = None
    resource_policy: str | None = None
    concurrency_limit: int | None = None
    rate_limit: int | None = Field(default=None, ge=0)


class DomainProps(_Props):
    """``create_domain(name, props: DomainInput)``."""

    description: str | None = Field(default=None, max_length=512)
    is_active: bool | None = True
    total_resource_slots: dict[str, str] | None = None
    allowed_vfolder_hosts: list[str] | None = None
    allowed_docker_registries: list[str] | None = None
    integration_id: str | None = Field(default=None, max_length=512)

    _slots = field_validator("total_resource_slots", mode="before")(parse_slots)


class ModifyDomainProps(DomainProps):
    name: str | None = None  # the new name
    is_active: bool | None = None


class GroupProps(_Props):
    """``create_group(name, props: GroupInput)``."""

    description: str | None = Field(default=None, max_length=512)
    is_active: bool | None = True
    domain_name: str
    total_resource_slots: dict[str, str] | None = None
    allowed_vfolder_hosts: list[str] | None = None
    integration_id: str | None = Field(default=None, max_length=512)

    _slots = field_validator("total_resource_slots", mode="before")(parse_slots)


class UserUpdateMode(StrEnum):
    ADD = "add"
    REMOVE = "remove"


class ModifyGroupProps(_Props):
    """``modify_group(gid, props: ModifyGroupInput)``; also adds and removes members."""

    name: str | None = None
    description: str | None = Field(default=None, max_length=512)
    is_active: bool | None = None
    domain_name: str | None = None  # accepted and ignored: a group never changes domain
    total_resource_slots: dict[str, str] | None = None
    allowed_vfolder_hosts: list[str] | None = None
    integration_id: str | None = Field(default=None, max_length=512)
    user_update_mode: UserUpdateMode | None = None
    user_uuids: list[uuid.UUID] | None = None

    _slots = field_validator("total_resource_slots", mode="before")(parse_slots)
