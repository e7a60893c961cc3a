"""Keypair resource policies: what a keypair's sessions may use (``admin
keypair-resource-policies``).

A policy's limits take effect where sessions are admitted and kept: ``max_concurrent_sessions``
when a session is created (``session_checks.check_quota``), ``total_resource_slots`` in the
scheduler's pass (``scheduler.policy.over_policy``), ``idle_timeout`` and
``max_session_lifetime`` in the idle sweep. A policy that keypairs still use cannot be deleted:
the refusal names them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import AlreadyExists, InvalidRequest, NotFound
from backendai.common.slots import ResourceSlot
from backendai.common.statuses import DefaultForUnspecified
from backendai.manager import authz
from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import KeyPair, KeyPairResourcePolicy
from backendai.manager.services.auth import Principal
from backendai.manager.services.identity_rules import hosts as host_grants

_SHOWN_KEYPAIRS = 10  # keypairs named in a refusal to delete


def policy_not_found(name: str) -> NotFound:
    return NotFound(f"No keypair resource policy named {name!r}.")


class PolicyProps(BaseModel):
    """The limits of a policy as ``create``/``modify_keypair_resource_policy`` send them; on
    modify, a field left None keeps its value."""

    model_config = ConfigDict(extra="forbid")

    default_for_unspecified: DefaultForUnspecified | None = None
    total_resource_slots: dict[str, Any] | None = None
    max_session_lifetime: int | None = Field(default=None, ge=0)
    max_concurrent_sessions: int | None = Field(default=None, ge=0)
    max_pending_session_count: int | None = Field(default=None, ge=0)
    max_containers_per_session: int | None = Field(default=None, ge=1)
    max_vfolder_count: int | None = Field(default=None, ge=0)
    max_vfolder_size: int | None = Field(default=None, ge=0)
    idle_timeout: int | None = Field(default=None, ge=0)
    allowed_vfolder_hosts: list[str] | None = None

    @field_validator("default_for_unspecified", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("total_resource_slots")
    @classmethod
    def _slots(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """Amounts as users type them (``"8g"``), stored as decimal strings; unknown slot
        names are refused by ``ResourceSlot.parse``."""
        return None if value is None else ResourceSlot.parse(value).to_json()

    def columns(self) -> dict[str, Any]:
        values = self.model_dump(exclude_none=True)
        hosts = values.pop("allowed_vfolder_hosts", None)
        if hosts is not None:
            values["allowed_vfolder_hosts"] = host_grants(hosts)
        return values


async def create(
    db: AsyncSession, principal: Principal, name: str, props: PolicyProps
) -> KeyPairResourcePolicy:
    authz.require_any(principal, Resource.POLICY, Action.CREATE)
    if not name.strip():
        raise InvalidRequest("A keypair resource policy needs a name.")
    if await db.get(KeyPairResourcePolicy, name) is not None:
        raise AlreadyExists(f"A keypair resource policy named {name!r} already exists.")
    policy = KeyPairResourcePolicy(name=name, **props.columns())
    db.add(policy)
    await db.flush()
    return policy


async def modify(
    db: AsyncSession, principal: Principal, name: str, props: PolicyProps
) -> KeyPairResourcePolicy:
    authz.require_any(principal, Resource.POLICY, Action.UPDATE)
    policy = await db.get(KeyPairResourcePolicy, name)
    if policy is None:
        raise policy_not_found(name)
    for column, value in props.columns().items():
        setattr(policy, column, value)
    await db.flush()
    return policy


async def delete(db: AsyncSession, principal: Principal, name: str) -> None:
    authz.require_any(principal, Resource.POLICY, Action.DELETE)
    policy = await db.get(KeyPairResourcePolicy, name)
    if policy is None:
        raise policy_not_found(name)
    users = list(
        await db.scalars(
            sa.select(KeyPair.access_key)
            .where(KeyPair.resource_policy == name)
            .order_by(KeyPair.access_key)
            .limit(_SHOWN_KEYPAIRS + 1)
        )
    )
    if users:
        shown = ", ".join(users[:_SHOWN_KEYPAIRS]) + (
            ", ..." if len(users) > _SHOWN_KEYPAIRS else ""
        )
        raise InvalidRequest(
            f"The keypair resource policy {name!r} is still used by the keypairs {shown}; "
            "give them another policy first.",
            data={"keypairs": users[:_SHOWN_KEYPAIRS]},
        )
    await db.delete(policy)
    await db.flush()


async def visible(
    db: AsyncSession, principal: Principal, name: str | None = None
) -> list[KeyPairResourcePolicy]:
    """The policies the caller may read: all of them for a role that lists policies; else
    those of the keypairs it may read (a user: its own keypairs' policies)."""
    q = sa.select(KeyPairResourcePolicy).order_by(KeyPairResourcePolicy.name)
    if name is not None:
        q = q.where(KeyPairResourcePolicy.name == name)
    if authz.scope_of(principal.role, Resource.POLICY, Action.LIST) is not authz.Scope.ALL:
        used = sa.select(KeyPair.resource_policy).where(
            authz.where(principal, Resource.KEYPAIR, Action.READ)
        )
        q = q.where(KeyPairResourcePolicy.name.in_(used))
    return list(await db.scalars(q))


async def of_keypair(db: AsyncSession, principal: Principal) -> KeyPairResourcePolicy:
    """The policy of the keypair the caller signs with."""
    name = await db.scalar(
        sa.select(KeyPair.resource_policy).where(KeyPair.access_key == principal.access_key)
    )
    policy = None if name is None else await db.get(KeyPairResourcePolicy, name)
    if policy is None:
        raise policy_not_found(name or "")
    return policy
