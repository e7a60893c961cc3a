"""Keypairs: create, modify (activate, deactivate, rate limit, policy, admin flag) and delete.

Who may manage whose keypair is the authorization table's, decided on the keypair's owner: a
domain admin manages the keypairs of its domain's users and admins, never a monitor's or a
superadmin's. A new secret key is shown once, in the answer to its creation, to whoever
created it (the creator has to hand it over); afterwards only its owner and superadmins read
it (``Action.READ_SECRET``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import InvalidRequest, KeypairNotFound, NotFound
from backendai.common.identity import DEFAULT_RATE_LIMIT, KeyPairProps, ModifyKeyPairProps
from backendai.manager import authz
from backendai.manager.authz import Action, Actor, Resource
from backendai.manager.db.models import Dotfile, KeyPair, KeyPairResourcePolicy, Session, User
from backendai.manager.services.bootstrap import new_access_key, new_secret_key
from backendai.manager.services.identity_rules import count_sessions, user_missing, user_target


@dataclass(frozen=True, slots=True)
class NewKeyPair:
    access_key: str
    secret_key: str


async def _check_policy(db: AsyncSession, name: str) -> None:
    if await db.get(KeyPairResourcePolicy, name) is None:
        raise NotFound(f"No keypair resource policy named {name!r}.")


async def _reach(db: AsyncSession, actor: Actor, action: Action, access_key: str) -> KeyPair:
    row = (
        await db.execute(
            sa.select(KeyPair, User)
            .join(User, User.uuid == KeyPair.user)
            .where(KeyPair.access_key == access_key)
        )
    ).one_or_none()
    missing = KeypairNotFound(f"No keypair {access_key} that you may see.")
    authz.require(
        actor, Resource.KEYPAIR, action, None if row is None else user_target(row[1]), missing
    )
    assert row is not None
    return row[0]


class KeyPairService:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def create(self, actor: Actor, user_id: str, props: KeyPairProps) -> NewKeyPair:
        async with self._db() as db, db.begin():
            owner = await db.scalar(sa.select(User).where(User.email == user_id))
            target = None if owner is None else user_target(owner)
            authz.require(actor, Resource.KEYPAIR, Action.CREATE, target, user_missing(user_id))
            assert owner is not None
            policy = props.resource_policy or "default"
            await _check_policy(db, policy)
            keypair = KeyPair(
                access_key=new_access_key(),
                secret_key=new_secret_key(),
                user_id=owner.email,
                user=owner.uuid,
                is_active=props.is_active is not False,
                is_admin=bool(props.is_admin),
                resource_policy=policy,
                rate_limit=DEFAULT_RATE_LIMIT if props.rate_limit is None else props.rate_limit,
            )
            db.add(keypair)
            return NewKeyPair(keypair.access_key, keypair.secret_key)

    async def modify(self, actor: Actor, access_key: str, props: ModifyKeyPairProps) -> None:
        async with self._db() as db, db.begin():
            keypair = await _reach(db, actor, Action.UPDATE, access_key)
            if props.resource_policy is not None:
                await _check_policy(db, props.resource_policy)
                keypair.resource_policy = props.resource_policy
            for column in ("is_active", "is_admin", "rate_limit"):
                value = getattr(props, column)
                if value is not None:
                    setattr(keypair, column, value)

    async def delete(self, actor: Actor, access_key: str) -> None:
        async with self._db() as db, db.begin():
            keypair = await _reach(db, actor, Action.DELETE, access_key)
            used = await count_sessions(db, Session.access_key == access_key, live=False)
            if used:
                raise InvalidRequest(
                    f"The keypair {access_key} has {used} session(s) on record; deactivate it "
                    "instead (admin keypairs deactivate)."
                )
            await db.execute(
                sa.delete(Dotfile).where(Dotfile.scope == "user", Dotfile.owner == access_key)
            )
            await db.delete(keypair)
