"""Finding the session a user means (API_CONTRACT §1.8).

``{name}`` in ``/session/{name}/...`` may be a session name, a full UUID or a UUID prefix,
among the owner's live sessions (everything but TERMINATED and CANCELLED). An exact name wins;
then a full UUID; then a unique prefix. More than one match is ``too-many-sessions-matched``
with the candidates. Some reads (logs, info) also reach ended sessions.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.errors import (
    KeypairNotFound,
    PermissionDenied,
    SessionNotFound,
    TooManySessionsMatched,
)
from backendai.manager.db.models import KeyPair, Session, User
from backendai.manager.lifecycle import LIVE_STATUSES
from backendai.manager.services.auth import Principal


async def owner_access_key(db: AsyncSession, principal: Principal, requested: str | None) -> str:
    """Whose sessions a request acts on: the caller's, or (admins) ``owner_access_key``'s."""
    if not requested or requested == principal.access_key:
        return principal.access_key
    if not principal.is_domain_admin:
        raise PermissionDenied("Only admins may act on another keypair's sessions.")
    row = (
        await db.execute(
            sa.select(KeyPair.access_key, User.domain_name)
            .join(User, User.uuid == KeyPair.user)
            .where(KeyPair.access_key == requested)
        )
    ).one_or_none()
    if row is None or (not principal.is_superadmin and row[1] != principal.domain_name):
        raise KeypairNotFound(f"No keypair {requested} in your domain.")
    return requested


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
