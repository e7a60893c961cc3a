"""Creating N identical sessions in one request (the web UI's "Sessions" slider, ``start
--count N``): ``POST /session`` with ``count``.

The sessions are named NAME-1 to NAME-N and each is queued on its own: the scheduler places
each as room frees up, so some may run while others wait. The request is all or nothing: every
check a single create makes is made once for the batch before anything is written, and the N
rows are added in one transaction under the owner's keypair lock, so that a refusal (a bad
field, a taken name, N above the keypair's concurrency limit) leaves no session behind. The
answer comes as soon as they are queued: waiting for all N to run could wait forever when only
some of them fit at a time.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import QuotaExceeded, SessionAlreadyExists
from backendai.common.session_request import (
    CreateSessionRequest,
    validate_name,
)
from backendai.manager.db.locks import lock_row
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import KeyPair, Session, SessionDependency
from backendai.manager.lifecycle import LIVE_STATUSES, enqueue
from backendai.manager.services import images
from backendai.manager.services.auth import Principal
from backendai.manager.services.manager_status import ensure_running
from backendai.manager.services.session_checks import live_sessions, load_owner, session_limits
from backendai.manager.services.session_rows import admit, session_rows, session_type_of


def batch_names(base: str, count: int) -> list[str]:
    """``base-1`` .. ``base-count``, each a valid session name."""
    names = [f"{base}-{i}" for i in range(1, count + 1)]
    for name in names:
        validate_name(name)
    return names


def _too_many(count: int, limit: int, live: int = 0) -> QuotaExceeded:
    have = f"you already have {live} and " if live else ""
    return QuotaExceeded(
        f"Cannot create {count} sessions at once: {have}the keypair resource policy's limit "
        f"(max_concurrent_sessions) is {limit} concurrent sessions.",
        data={"max_concurrent_sessions": limit, "count": count, "live": live},
    )


async def create_batch(
    db_factory: async_sessionmaker[AsyncSession],
    on_enqueue: Callable[[], None],
    principal: Principal,
    req: CreateSessionRequest,
) -> list[Session]:
    """Queue ``req.count`` sessions like ``req``, NAME-1..NAME-N; all of them or none."""
    names = batch_names(req.name or f"pysdk-{secrets.token_hex(5)}", req.count)
    session_type_of(req)
    now = utcnow()
    async with db_factory() as db:
        owner = await load_owner(db, principal, req.owner_access_key)
        image = await images.resolve(db, req.image, principal)
        admitted = await admit(db, principal, req, owner, image, now)
        limits = await session_limits(db, owner)
        limit = limits[0] if limits else None
    if limit is not None and req.count > limit:
        raise _too_many(req.count, limit)  # could never all be live at once
    sessions = [session_rows(name, req, admitted, now) for name in names]
    async with db_factory() as db, db.begin():
        await lock_row(db, KeyPair.access_key, owner.access_key)
        taken = list(
            await db.scalars(
                sa.select(Session.name).where(
                    Session.access_key == owner.access_key,
                    Session.name.in_(names),
                    Session.status.in_(LIVE_STATUSES),
                )
            )
        )
        if taken:
            raise SessionAlreadyExists(
                f"Sessions named {', '.join(sorted(taken))} already exist; choose another name "
                "or terminate them first (a batch never reuses sessions).",
                data={"existing": sorted(taken)},
            )
        await ensure_running(db)
        if limit is not None:
            live = await live_sessions(db, owner.access_key)
            if live + req.count > limit:
                raise _too_many(req.count, limit, live)
        for s, k in sessions:
            await enqueue(db, s, [k], reason="user-requested")
            db.add_all(SessionDependency(session_id=s.id, depends_on=d)
                       for d in admitted.depends_on)  # fmt: skip
    on_enqueue()
    return [s for s, _ in sessions]
