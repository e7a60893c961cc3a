"""Domains and groups (projects): create, modify, inactivate ("delete"), purge, and a group's
members (``admin domains ...``, ``admin groups ...``).

Only a superadmin manages domains; a domain admin manages the groups of its own domain and
adds to them, or removes from them, the users it may manage. Each use case is one
transaction; a purge is refused, naming what is in the way, rather than dropping data.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from backendai.common.errors import AlreadyExists, DomainNotFound, InvalidRequest
from backendai.common.identity import (
    DomainProps,
    GroupProps,
    ModifyDomainProps,
    ModifyGroupProps,
    UserUpdateMode,
    check_name,
)
from backendai.manager import authz
from backendai.manager.authz import Action, Actor, Resource, Target
from backendai.manager.db.models import (
    Domain,
    Dotfile,
    Group,
    GroupMembership,
    GroupResourcePolicy,
    Session,
    SessionTemplate,
    User,
    VFolder,
)
from backendai.manager.services.identity_rules import (
    count_sessions,
    existing_domain,
    hosts,
    reach_group,
    require_domain_of,
)


def _columns(props: DomainProps | GroupProps | ModifyGroupProps, *skip: str) -> dict[str, Any]:
    """The table columns a payload sets (None: keep)."""
    values = props.model_dump(exclude_none=True, exclude={"name", *skip})
    if "allowed_vfolder_hosts" in values:
        values["allowed_vfolder_hosts"] = hosts(values["allowed_vfolder_hosts"])
    return values


def _valid(name: str, what: str) -> str:
    try:
        return check_name(name, what)
    except ValueError as e:
        raise InvalidRequest(str(e)) from None


class DomainService:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def create(self, actor: Actor, name: str, props: DomainProps) -> str:
        authz.require(actor, Resource.DOMAIN, Action.CREATE, Target.domain(name), _nf(name))
        _valid(name, "domain")
        async with self._db() as db, db.begin():
            if await db.get(Domain, name) is not None:
                raise AlreadyExists(f"A domain named {name!r} already exists.")
            db.add(Domain(name=name, **_columns(props)))
            return name

    async def modify(self, actor: Actor, name: str, props: ModifyDomainProps) -> str:
        authz.require(actor, Resource.DOMAIN, Action.UPDATE, Target.domain(name), _nf(name))
        async with self._db() as db, db.begin():
            domain = await existing_domain(db, name)
            for column, value in _columns(props).items():
                setattr(domain, column, value)
            await db.flush()
            if props.name is not None and props.name != name:
                return await self._rename(db, name, _valid(props.name, "domain"))
            return name

    async def _rename(self, db: AsyncSession, old: str, new: str) -> str:
        if await db.get(Domain, new) is not None:
            raise AlreadyExists(f"A domain named {new!r} already exists.")
        for table, column in ((Session, Session.domain_name),
                              (SessionTemplate, SessionTemplate.domain_name)):  # fmt: skip
            if await db.scalar(sa.select(sa.func.count()).select_from(table).where(column == old)):
                raise InvalidRequest(
                    f"The domain {old} has sessions or session templates on record; it keeps "
                    "its name."
                )
        # Users, groups and resource-group associations follow by ON UPDATE CASCADE.
        await db.execute(sa.update(Domain).where(Domain.name == old).values(name=new))
        await db.execute(
            sa.update(Dotfile)
            .where(Dotfile.scope == "domain", Dotfile.owner == old)
            .values(owner=new)
        )
        return new

    async def inactivate(self, actor: Actor, name: str) -> None:
        authz.require(actor, Resource.DOMAIN, Action.DELETE, Target.domain(name), _nf(name))
        async with self._db() as db, db.begin():
            (await existing_domain(db, name)).is_active = False

    async def purge(self, actor: Actor, name: str) -> None:
        authz.require(actor, Resource.DOMAIN, Action.DELETE, Target.domain(name), _nf(name))
        async with self._db() as db, db.begin():
            domain = await existing_domain(db, name)
            users = await db.scalar(
                sa.select(sa.func.count()).select_from(User).where(User.domain_name == name)
            )
            if users:
                raise InvalidRequest(
                    f"The domain {name} still has {users} user(s); purge them first."
                )
            groups = [
                str(g)
                for g in await db.scalars(sa.select(Group.id).where(Group.domain_name == name))
            ]
            await _refuse_group_data(db, Group.domain_name == name, f"The domain {name}")
            await db.execute(
                sa.delete(Dotfile).where(
                    sa.or_(
                        sa.and_(Dotfile.scope == "domain", Dotfile.owner == name),
                        sa.and_(Dotfile.scope == "group", Dotfile.owner.in_(groups)),
                    )
                )
            )
            await db.execute(sa.delete(Group).where(Group.domain_name == name))
            await db.delete(domain)


def _nf(name: str) -> DomainNotFound:
    return DomainNotFound(f"No domain {name} that you may see.")


async def _refuse_group_data(db: AsyncSession, where: ColumnElement[bool], what: str) -> None:
    """A purge of groups is refused while sessions or folders belong to them."""
    ids = sa.select(Group.id).where(where)
    sessions = await count_sessions(db, Session.group_id.in_(ids), live=True)
    if sessions:
        raise InvalidRequest(
            f"{what} has {sessions} session(s) that have not ended; terminate them first."
        )
    folders = await db.scalar(
        sa.select(sa.func.count()).select_from(VFolder).where(VFolder.group.in_(ids))
    )
    if folders:
        raise InvalidRequest(f"{what} owns {folders} virtual folder(s); delete them first.")
    await db.execute(sa.delete(SessionTemplate).where(SessionTemplate.group_id.in_(ids)))
    await db.execute(sa.delete(Session).where(Session.group_id.in_(ids)))


class GroupService:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def create(self, actor: Actor, name: str, props: GroupProps) -> uuid.UUID:
        require_domain_of(actor, Resource.GROUP, Action.CREATE, props.domain_name)
        _valid(name, "group")
        async with self._db() as db, db.begin():
            await existing_domain(db, props.domain_name)
            if await db.scalar(
                sa.select(Group.id).where(
                    Group.name == name, Group.domain_name == props.domain_name
                )
            ):
                raise AlreadyExists(
                    f"A group named {name!r} already exists in the domain {props.domain_name}."
                )
            policy = "default" if await db.get(GroupResourcePolicy, "default") else None
            group = Group(name=name, resource_policy=policy, **_columns(props))
            db.add(group)
            await db.flush()
            return group.id

    async def modify(self, actor: Actor, gid: uuid.UUID, props: ModifyGroupProps) -> uuid.UUID:
        async with self._db() as db, db.begin():
            group = await reach_group(db, actor, Action.UPDATE, gid)
            if props.name is not None and props.name != group.name:
                _valid(props.name, "group")
                if await db.scalar(
                    sa.select(Group.id).where(
                        Group.name == props.name, Group.domain_name == group.domain_name
                    )
                ):
                    raise AlreadyExists(
                        f"A group named {props.name!r} already exists in the domain "
                        f"{group.domain_name}."
                    )
                group.name = props.name
            for column, value in _columns(
                props, "domain_name", "user_update_mode", "user_uuids"
            ).items():
                setattr(group, column, value)
            if props.user_uuids:
                await self._members(db, actor, group, props)
            return group.id

    async def _members(
        self, db: AsyncSession, actor: Actor, group: Group, props: ModifyGroupProps
    ) -> None:
        if props.user_update_mode is None:
            raise InvalidRequest("user_uuids needs user_update_mode: 'add' or 'remove'.")
        wanted = set(props.user_uuids or ())
        reachable = set(
            await db.scalars(
                sa.select(User.uuid).where(
                    User.uuid.in_(wanted),
                    User.domain_name == group.domain_name,
                    authz.where(actor, Resource.USER, Action.UPDATE),
                )
            )
        )
        missing = wanted - reachable
        if missing:
            names = ", ".join(sorted(str(m) for m in missing))
            raise InvalidRequest(
                f"No user {names} of the domain {group.domain_name} that you may manage."
            )
        current = set(
            await db.scalars(
                sa.select(GroupMembership.user_id).where(GroupMembership.group_id == group.id)
            )
        )
        if props.user_update_mode is UserUpdateMode.ADD:
            db.add_all(
                GroupMembership(group_id=group.id, user_id=u) for u in sorted(wanted - current)
            )
        else:
            await db.execute(
                sa.delete(GroupMembership).where(
                    GroupMembership.group_id == group.id, GroupMembership.user_id.in_(wanted)
                )
            )

    async def inactivate(self, actor: Actor, gid: uuid.UUID) -> None:
        async with self._db() as db, db.begin():
            (await reach_group(db, actor, Action.DELETE, gid)).is_active = False

    async def purge(self, actor: Actor, gid: uuid.UUID) -> None:
        async with self._db() as db, db.begin():
            group = await reach_group(db, actor, Action.DELETE, gid)
            await _refuse_group_data(db, Group.id == gid, f"The group {group.name}")
            await db.execute(
                sa.delete(Dotfile).where(Dotfile.scope == "group", Dotfile.owner == str(gid))
            )
            await db.delete(group)
