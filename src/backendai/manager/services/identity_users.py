"""Users: create, modify, inactivate ("delete") and purge (``admin users ...``).

Each use case is one transaction: it is carried out whole or refused with nothing written.
Whom an actor may manage is the authorization table's (``identity_rules``): a domain admin
manages the users of its domain whose role ranks no higher than its own, and can neither
create nor make anyone a monitor or a superadmin.

A new user gets one keypair, as in Backend.AI (so that it can log in to the web UI at once),
and joins the groups named, or else its domain's ``default`` group where there is one.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import AlreadyExists, InvalidRequest, PermissionDenied
from backendai.common.identity import (
    DEFAULT_RATE_LIMIT,
    ModifyUserProps,
    PurgeUserProps,
    UserProps,
    check_email,
)
from backendai.common.statuses import UserRole, UserStatus
from backendai.manager.authz import Action, Actor
from backendai.manager.db.models import (
    Dotfile,
    Group,
    GroupMembership,
    KeyPair,
    Session,
    SessionTemplate,
    User,
    VFolder,
)
from backendai.manager.services.bootstrap import new_access_key, new_secret_key
from backendai.manager.services.identity_rules import (
    count_sessions,
    existing_domain,
    groups_in,
    reach_user,
    require_role,
)
from backendai.manager.services.passwords import PasswordPool

ADMIN_ROLES = (UserRole.SUPERADMIN, UserRole.ADMIN)


def _status(status: UserStatus | None, is_active: bool | None) -> UserStatus | None:
    if status is not None:
        return status
    if is_active is not None:
        return UserStatus.ACTIVE if is_active else UserStatus.INACTIVE
    return None


async def _check_unique(db: AsyncSession, email: str | None, username: str | None) -> None:
    if email is not None and await db.scalar(sa.select(User.uuid).where(User.email == email)):
        raise AlreadyExists(f"A user with the email {email} already exists.")
    if username is not None and await db.scalar(
        sa.select(User.uuid).where(User.username == username)
    ):
        raise AlreadyExists(f"A user with the username {username} already exists.")


class UserService:
    def __init__(self, db: async_sessionmaker[AsyncSession], passwords: PasswordPool) -> None:
        self._db = db
        self._hash = passwords.hash
        self._passwords = passwords

    async def create(self, actor: Actor, email: str, props: UserProps) -> uuid.UUID:
        try:
            check_email(email)
        except ValueError as e:
            raise InvalidRequest(str(e)) from None
        require_role(actor, Action.CREATE, props.domain_name, props.role)
        username = props.username or email
        async with self._db() as db, db.begin():  # refusals that need no hashing come first
            await existing_domain(db, props.domain_name)
            await _check_unique(db, email, username)
        password = await self._hash(props.password)
        status = _status(props.status, props.is_active) or UserStatus.ACTIVE
        async with self._db() as db, db.begin():
            await existing_domain(db, props.domain_name)
            await _check_unique(db, email, username)
            if props.group_ids:
                groups = await groups_in(db, props.domain_name, props.group_ids)
            else:
                groups = list(
                    await db.scalars(
                        sa.select(Group).where(
                            Group.domain_name == props.domain_name, Group.name == "default"
                        )
                    )
                )
            user = User(
                email=email,
                username=username,
                password=password,
                need_password_change=props.need_password_change,
                full_name=props.full_name,
                description=props.description,
                status=status,
                domain_name=props.domain_name,
                role=props.role,
            )
            db.add(user)
            await db.flush()
            db.add_all(GroupMembership(group_id=g.id, user_id=user.uuid) for g in groups)
            db.add(
                KeyPair(
                    access_key=new_access_key(),
                    secret_key=new_secret_key(),
                    user_id=email,
                    user=user.uuid,
                    is_active=status is UserStatus.ACTIVE,
                    is_admin=props.role in ADMIN_ROLES,
                    rate_limit=DEFAULT_RATE_LIMIT,
                )
            )
            return user.uuid

    async def modify(self, actor: Actor, email: str, props: ModifyUserProps) -> uuid.UUID:
        async with self._db() as db, db.begin():
            user = await reach_user(db, actor, Action.UPDATE, email)
            domain_name = props.domain_name or user.domain_name
            role = props.role or user.role
            if (domain_name, role) != (user.domain_name, user.role):
                require_role(actor, Action.UPDATE, domain_name, role)
                await existing_domain(db, domain_name)
        password = None if props.password is None else await self._hash(props.password)
        async with self._db() as db, db.begin():
            user = await reach_user(db, actor, Action.UPDATE, email)
            if props.username and props.username != user.username:
                await _check_unique(db, None, props.username)
                user.username = props.username
            for column in ("full_name", "description", "need_password_change"):
                value = getattr(props, column)
                if value is not None:
                    setattr(user, column, value)
            if password is not None:
                user.password = password
            status = _status(props.status, props.is_active)
            if status is not None:
                user.status = status
            if props.role is not None and props.role is not user.role:
                user.role = props.role
                await db.execute(
                    sa.update(KeyPair)
                    .where(KeyPair.user == user.uuid)
                    .values(is_admin=props.role in ADMIN_ROLES)
                )
            if props.domain_name is not None and props.domain_name != user.domain_name:
                user.domain_name = props.domain_name
                if props.group_ids is None:  # groups of the old domain are left behind
                    await db.execute(
                        sa.delete(GroupMembership).where(
                            GroupMembership.user_id == user.uuid,
                            GroupMembership.group_id.not_in(
                                sa.select(Group.id).where(Group.domain_name == props.domain_name)
                            ),
                        )
                    )
            if props.group_ids is not None:
                groups = await groups_in(db, user.domain_name, props.group_ids)
                await db.execute(
                    sa.delete(GroupMembership).where(GroupMembership.user_id == user.uuid)
                )
                db.add_all(GroupMembership(group_id=g.id, user_id=user.uuid) for g in groups)
            return user.uuid

    async def inactivate(self, actor: Actor, email: str) -> None:
        """``delete_user``: the account stays, marked deleted, and its keypairs stop working."""
        async with self._db() as db, db.begin():
            user = await reach_user(db, actor, Action.DELETE, email)
            user.status = UserStatus.DELETED
            user.status_info = "admin-requested"
            await db.execute(
                sa.update(KeyPair).where(KeyPair.user == user.uuid).values(is_active=False)
            )

    async def purge(self, actor: Actor, email: str, props: PurgeUserProps) -> None:
        """``purge_user``: the user, its keypairs, memberships, dotfiles, templates and ended
        sessions go; refused while it has sessions that have not ended or owns folders."""
        async with self._db() as db, db.begin():
            user = await reach_user(db, actor, Action.DELETE, email)
            live = await count_sessions(db, Session.user_uuid == user.uuid, live=True)
            if live:
                raise InvalidRequest(
                    f"The user {email} has {live} session(s) that have not ended; terminate "
                    "them first."
                )
            folders = await db.scalar(
                sa.select(sa.func.count()).select_from(VFolder).where(VFolder.user == user.uuid)
            )
            if folders:
                raise InvalidRequest(
                    f"The user {email} owns {folders} virtual folder(s); delete them first "
                    "(a purge never drops data silently)."
                )
            keys = sa.select(KeyPair.access_key).where(KeyPair.user == user.uuid)
            await db.execute(
                sa.delete(Dotfile).where(Dotfile.scope == "user", Dotfile.owner.in_(keys))
            )
            await db.execute(
                sa.delete(SessionTemplate).where(SessionTemplate.user_uuid == user.uuid)
            )
            await db.execute(sa.delete(Session).where(Session.user_uuid == user.uuid))
            await db.execute(sa.delete(KeyPair).where(KeyPair.user == user.uuid))
            await db.execute(sa.delete(GroupMembership).where(GroupMembership.user_id == user.uuid))
            await db.delete(user)

    async def change_password(self, actor: Actor, old: str, new: str, new2: str) -> None:
        """``update-password``: the actor's own password, given the one it has now."""
        if new != new2:
            raise InvalidRequest("The new password and its confirmation differ.")
        async with self._db() as db:
            hashed = await db.scalar(sa.select(User.password).where(User.uuid == actor.user_uuid))
        if not await self._passwords.check(old, hashed):
            raise PermissionDenied("The old password is incorrect.")
        password = await self._hash(new)
        async with self._db() as db, db.begin():
            await db.execute(
                sa.update(User)
                .where(User.uuid == actor.user_uuid)
                .values(password=password, need_password_change=False)
            )
