"""Dotfiles: files written into the home of every new session, at three scopes.

- user: a keypair's (Backend.AI keys user dotfiles by access key), for its own sessions;
- group: for the sessions of the group (project) a session is created in;
- domain: for every session in the domain.

Where two scopes have a file at the same path, the user's wins over the group's, and the
group's over the domain's. Who may read or change which is the authorization table's to say
(``Resource.DOTFILE``): a group's members and a domain's users read theirs; changing a group's
or a domain's is for that domain's admins (and superadmins).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common import dotfiles as rules
from backendai.common.agent_protocol import DotfileSpec
from backendai.common.errors import (
    AlreadyExists,
    DomainNotFound,
    GroupNotFound,
    InvalidRequest,
    KeypairNotFound,
    NotFound,
    QuotaExceeded,
)
from backendai.manager import authz
from backendai.manager.authz import Action, Resource, Target
from backendai.manager.db.models import Domain, Dotfile, Group, GroupMembership, KeyPair, User
from backendai.manager.services.auth import Principal


class Scope(StrEnum):
    USER = "user"
    GROUP = "group"
    DOMAIN = "domain"


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose dotfiles a request is about, and the targets authorization asks about."""

    scope: Scope
    key: str  # the access key, the group's id or the domain's name
    readers: Target  # who may list and read them
    changers: Target  # who may create, update and delete them


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """What a request names: ``owner_access_key``, or ``group`` (and ``domain``), or ``domain``."""

    owner_access_key: str | None = None
    group: str | None = None
    domain: str | None = None


def _wire(row: Dotfile) -> dict[str, Any]:
    return {"path": row.path, "permission": row.permission, "data": row.data}


class DotfileService:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def list(self, principal: Principal, ref: OwnerRef) -> list[dict[str, Any]]:
        async with self._db() as db:
            owner = await self._owner(db, principal, ref, Action.LIST)
            rows = await db.scalars(
                sa.select(Dotfile)
                .where(Dotfile.scope == owner.scope.value, Dotfile.owner == owner.key)
                .order_by(Dotfile.path)
            )
            return [_wire(r) for r in rows]

    async def get(self, principal: Principal, ref: OwnerRef, path: str) -> dict[str, Any]:
        async with self._db() as db:
            owner = await self._owner(db, principal, ref, Action.READ)
            return _wire(await self._row(db, owner, rules.normalize_path(path)))

    async def create(
        self, principal: Principal, ref: OwnerRef, path: str, data: str, permission: str
    ) -> None:
        path, permission = rules.normalize_path(path), rules.normalize_permission(permission)
        async with self._db() as db, db.begin():
            owner = await self._owner(db, principal, ref, Action.CREATE)
            if await self._find(db, owner, path) is not None:
                raise AlreadyExists(
                    f"The {owner.scope.value} dotfile {path} exists already; "
                    "change it with `dotfile update`."
                )
            await self._check_room(db, owner, path, data, adding=True)
            db.add(Dotfile(scope=owner.scope.value, owner=owner.key, path=path,
                           permission=permission, data=data))  # fmt: skip

    async def update(
        self, principal: Principal, ref: OwnerRef, path: str, data: str, permission: str
    ) -> None:
        path, permission = rules.normalize_path(path), rules.normalize_permission(permission)
        async with self._db() as db, db.begin():
            owner = await self._owner(db, principal, ref, Action.UPDATE)
            row = await self._row(db, owner, path)
            await self._check_room(db, owner, path, data, adding=False)
            row.data, row.permission = data, permission

    async def delete(self, principal: Principal, ref: OwnerRef, path: str) -> None:
        path = rules.normalize_path(path)
        async with self._db() as db, db.begin():
            owner = await self._owner(db, principal, ref, Action.DELETE)
            await db.delete(await self._row(db, owner, path))

    # --- lookups -------------------------------------------------------------------------

    async def _owner(
        self, db: AsyncSession, principal: Principal, ref: OwnerRef, action: Action
    ) -> Owner:
        if ref.group:
            owner = await _group_owner(db, principal, ref.group, ref.domain, action)
        elif ref.domain:
            owner = await _domain_owner(db, principal, ref.domain, action)
        else:
            owner = await _user_owner(db, principal, ref.owner_access_key, action)
        target = owner.readers if action in (Action.LIST, Action.READ) else owner.changers
        authz.require(principal, Resource.DOTFILE, action, target, _missing(ref))
        return owner

    async def _find(self, db: AsyncSession, owner: Owner, path: str) -> Dotfile | None:
        return await db.scalar(
            sa.select(Dotfile).where(
                Dotfile.scope == owner.scope.value,
                Dotfile.owner == owner.key,
                Dotfile.path == path,
            )
        )

    async def _row(self, db: AsyncSession, owner: Owner, path: str) -> Dotfile:
        row = await self._find(db, owner, path)
        if row is None:
            raise NotFound(f"There is no {owner.scope.value} dotfile {path}.")
        return row

    async def _check_room(
        self, db: AsyncSession, owner: Owner, path: str, data: str, *, adding: bool
    ) -> None:
        size = len(data.encode())
        if size > rules.MAX_DATA:
            raise QuotaExceeded(f"A dotfile may hold at most {rules.MAX_DATA} bytes.")
        used_bytes = sa.func.coalesce(sa.func.sum(sa.func.length(Dotfile.data)), 0)
        others = (
            await db.execute(
                sa.select(sa.func.count(), used_bytes).where(
                    Dotfile.scope == owner.scope.value,
                    Dotfile.owner == owner.key,
                    Dotfile.path != path,
                )
            )
        ).one()
        count, used = int(others[0]), int(others[1])
        if adding and count + 1 > rules.MAX_COUNT:
            raise QuotaExceeded(f"There may be at most {rules.MAX_COUNT} dotfiles per owner.")
        if used + size > rules.MAX_DATA:
            raise QuotaExceeded(
                f"The {owner.scope.value} dotfiles may hold at most {rules.MAX_DATA} bytes in "
                f"all; {used} are used by the others."
            )


def _missing(ref: OwnerRef) -> NotFound:
    if ref.group:
        return GroupNotFound(f"No group (project) {ref.group}.")
    if ref.domain:
        return DomainNotFound(f"No domain {ref.domain}.")
    return KeypairNotFound(f"No keypair {ref.owner_access_key}.")


async def _user_owner(
    db: AsyncSession, principal: Principal, access_key: str | None, action: Action
) -> Owner:
    if not access_key or access_key == principal.access_key:
        target = Target.of_actor(principal)
        return Owner(Scope.USER, principal.access_key, target, target)
    row = (await db.execute(
        sa.select(User.uuid, User.domain_name, User.role)
        .join(KeyPair, KeyPair.user == User.uuid).where(KeyPair.access_key == access_key)
    )).one_or_none()  # fmt: skip
    if row is None:
        # Whatever the caller may do, a keypair that does not exist reads like one beyond reach.
        raise authz.absent(principal, Resource.DOTFILE, action, _missing(OwnerRef(access_key)))
    target = Target.owned_by(row.uuid, row.domain_name, row.role)
    return Owner(Scope.USER, access_key, target, target)


async def _group_owner(
    db: AsyncSession, principal: Principal, group: str, domain: str | None, action: Action
) -> Owner:
    query = sa.select(Group.id, Group.domain_name)
    try:
        query = query.where(Group.id == uuid.UUID(group))
    except ValueError:
        query = query.where(
            Group.name == group, Group.domain_name == (domain or principal.domain_name)
        )
    row = (await db.execute(query)).one_or_none()
    if row is None:
        raise authz.absent(principal, Resource.DOTFILE, action, _missing(OwnerRef(group=group)))
    members = await db.scalars(
        sa.select(GroupMembership.user_id).where(GroupMembership.group_id == row.id)
    )
    return Owner(Scope.GROUP, str(row.id), Target.group(row.domain_name, members),
                 Target.domain(row.domain_name))  # fmt: skip


async def _domain_owner(
    db: AsyncSession, principal: Principal, domain: str, action: Action
) -> Owner:
    if await db.get(Domain, domain) is None:
        raise authz.absent(principal, Resource.DOTFILE, action, _missing(OwnerRef(domain=domain)))
    # The domain's users read its dotfiles (they are in all their sessions anyway).
    users = {principal.user_uuid} if principal.domain_name == domain else set()
    return Owner(Scope.DOMAIN, domain, Target.group(domain, users), Target.domain(domain))


async def session_dotfiles(
    db: AsyncSession, access_key: str, group_id: uuid.UUID | None, domain: str
) -> list[DotfileSpec]:
    """What a new session's home gets: user over group over domain for the same path."""
    owners = [(Scope.DOMAIN, domain), (Scope.USER, access_key)]
    if group_id is not None:
        owners.insert(1, (Scope.GROUP, str(group_id)))
    merged: dict[str, DotfileSpec] = {}
    for scope, key in owners:  # later scopes win
        rows = await db.scalars(
            sa.select(Dotfile).where(Dotfile.scope == scope.value, Dotfile.owner == key)
        )
        for row in rows:
            merged[row.path] = DotfileSpec(path=row.path, data=row.data, permission=row.permission)
    return [merged[path] for path in sorted(merged)]


def check_scope_params(ref: OwnerRef) -> None:
    if ref.owner_access_key and (ref.group or ref.domain):
        raise InvalidRequest("Name either an owner access key, or a group, or a domain.")
