"""Finding the session a user means (API_CONTRACT §1.8).

``{name}`` in ``/session/{name}/...`` may be a session name, a full UUID or a UUID prefix,
among the owner's live sessions (everything but TERMINATED and CANCELLED). An exact name wins;
then a full UUID; then a unique prefix. More than one match is ``too-many-sessions-matched``
with the candidates. Some reads (logs, info) also reach ended sessions.

Whose sessions a request may reach (its own, or ``owner_access_key``'s) is the authorization
table's to say (``backendai.manager.authz``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import (
    GroupNotFound,
    KeypairNotFound,
    SessionNotFound,
    TooManySessionsMatched,
)
from backendai.manager import authz
from backendai.manager.authz import Action, Resource, Target
from backendai.manager.db.models import Group, KeyPair, Session, User
from backendai.manager.lifecycle import FINAL_STATUSES, LIVE_STATUSES
from backendai.manager.services.auth import Principal


@dataclass(frozen=True, slots=True)
class OwnerRef:
    """Whose sessions a request acts on."""

    access_key: str
    domain_name: str


async def session_owner(
    db: AsyncSession, principal: Principal, requested: str | None, action: Action
) -> OwnerRef:
    """The caller's keypair, or ``owner_access_key``'s where the authorization table lets the
    caller ``action`` that keypair owner's sessions. A keypair beyond the caller's reach is
    answered like one that does not exist."""
    if not requested or requested == principal.access_key:
        authz.require(
            principal, Resource.SESSION, action, Target.of_actor(principal), SessionNotFound()
        )
        return OwnerRef(principal.access_key, principal.domain_name)
    row = (
        await db.execute(
            sa.select(User.uuid, User.domain_name, User.role)
            .join(KeyPair, KeyPair.user == User.uuid)
            .where(KeyPair.access_key == requested)
        )
    ).one_or_none()
    missing = KeypairNotFound(f"No keypair {requested} whose sessions you may {action.value}.")
    if row is None:
        raise authz.absent(principal, Resource.SESSION, action, missing)
    owner = Target.owned_by(row.uuid, row.domain_name, row.role)
    authz.require(principal, Resource.SESSION, action, owner, missing)
    return OwnerRef(requested, row.domain_name)


async def owner_access_key(
    db: AsyncSession, principal: Principal, requested: str | None, action: Action = Action.USE
) -> str:
    """The access key whose sessions a request acts on (see ``session_owner``)."""
    return (await session_owner(db, principal, requested, action)).access_key


@dataclass(frozen=True, slots=True)
class ListenerScope:
    """What an event listener may follow: one owner's sessions, maybe one group's, and
    whether the one session it names has already ended."""

    access_key: str
    group_id: uuid.UUID | None
    ended: bool


async def listener_scope(
    db: AsyncSession,
    principal: Principal,
    requested_owner: str | None,
    group_name: str | None,
    session_id: uuid.UUID | None,
) -> ListenerScope:
    owner = await session_owner(db, principal, requested_owner, Action.READ)
    group_id = None
    if group_name is not None:
        # The owner's group: sessions live in their owner's domain.
        group_id = await db.scalar(
            sa.select(Group.id).where(
                Group.name == group_name, Group.domain_name == owner.domain_name
            )
        )
        if group_id is None:
            raise GroupNotFound(
                f"No group (project) {group_name!r} in the domain {owner.domain_name}."
            )
    ended = False
    if session_id is not None:
        status = await db.scalar(
            sa.select(Session.status).where(
                Session.id == session_id, Session.access_key == owner.access_key
            )
        )
        ended = status in FINAL_STATUSES
    return ListenerScope(owner.access_key, group_id, ended)


def _as_uuid(ref: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None


def _prefix_key(ref: str) -> str:
    return ref.lower().replace("-", "")


async def find_session(
    db: AsyncSession, access_key: str, ref: str, *, include_ended: bool = False
) -> Session:
    live = list(
        await db.scalars(
            sa.select(Session)
            .where(Session.access_key == access_key, Session.status.in_(LIVE_STATUSES))
            .order_by(Session.created_at)
        )
    )
    named = [s for s in live if s.name == ref]
    full = _as_uuid(ref)
    matches = named or [s for s in live if full is not None and s.id == full]
    key = _prefix_key(ref)
    if not matches and full is None and key and all(c in "0123456789abcdef" for c in key):
        matches = [s for s in live if s.id.hex.startswith(key)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise TooManySessionsMatched(
            f"{len(matches)} sessions match {ref!r}; use a longer ID prefix or the full ID.",
            data={
                "matches": [
                    {"id": str(s.id), "name": s.name, "status": s.status.value} for s in matches
                ]
            },
        )
    if include_ended:
        cond = (
            Session.name == ref if full is None else sa.or_(Session.name == ref, Session.id == full)
        )
        ended = await db.scalar(
            sa.select(Session)
            .where(Session.access_key == access_key, cond)
            .order_by(Session.created_at.desc())
            .limit(1)
        )
        if ended is not None:
            return ended
    raise SessionNotFound(f"No session {ref!r} among your live sessions.")


async def session_for(
    db: async_sessionmaker[AsyncSession],
    principal: Principal,
    ref: str,
    requested_owner: str | None,
    action: Action,
    *,
    include_ended: bool = False,
) -> Session:
    """The session ``ref`` names among ``requested_owner``'s (or the caller's) sessions, where
    the authorization table lets the caller ``action`` it: a request's one read."""
    async with db() as session:
        access_key = await owner_access_key(session, principal, requested_owner, action)
        return await find_session(session, access_key, ref, include_ended=include_ended)


async def listener_scope_for(
    db: async_sessionmaker[AsyncSession],
    principal: Principal,
    requested_owner: str | None,
    group_name: str | None,
    session_id: uuid.UUID | None,
) -> ListenerScope:
    """``listener_scope`` in a read of its own (an event stream's start)."""
    async with db() as session:
        return await listener_scope(session, principal, requested_owner, group_name, session_id)
