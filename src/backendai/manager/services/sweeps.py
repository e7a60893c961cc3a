"""Server-side sweeps: one request for the batch sessions of every combination of its ranges
(``common.batch_tasks``, "Sweeps").

A sweep is planned before anything is read from the database (``sweep_plan``). Its cases
are then admitted once, with every check of ``POST /session``, and queued PENDING in one
transaction under the owner's keypair lock: all of them or none. From there
they are ordinary batch sessions: the scheduler starts them as room frees up (its concurrency
predicate makes the rest wait, so unlike ``count`` a sweep may be larger than
``max_concurrent_sessions``), they end by themselves, and nothing depends on the client that
submitted them.

Whose sweeps a request reaches follows the sessions' authorization: the owner's, and for
administrators those the table lets them read (a domain admin: their domain's; a superadmin:
all). A sweep beyond the caller's reach is answered like one that does not exist.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Set
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.batch_tasks import SweepCase, SweepInfo, SweepRequest, SweepSummary
from backendai.common.errors import (
    InvalidSessionState,
    QuotaExceeded,
    SessionAlreadyExists,
    SessionNotFound,
    SweepNotFound,
)
from backendai.common.session_request import CreateSessionRequest
from backendai.common.statuses import SessionResult
from backendai.common.statuses import SessionStatus as S
from backendai.manager import authz
from backendai.manager.authz import Action, Resource, Target
from backendai.manager.db.locks import lock_row
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import KeyPair, Session, Sweep, User
from backendai.manager.lifecycle import LIVE_STATUSES, enqueue, transition
from backendai.manager.services import images
from backendai.manager.services.auth import Principal
from backendai.manager.services.manager_status import ensure_running
from backendai.manager.services.session_checks import (
    Owner,
    live_sessions,
    load_owner,
    session_limits,
)
from backendai.manager.services.session_control import SessionControl
from backendai.manager.services.session_lookup import owner_access_key
from backendai.manager.services.session_rows import admit, session_rows
from backendai.manager.services.sweep_plan import plan

DEFAULT_LIST_LIMIT = 50
MAX_LIST_LIMIT = 500

_PENDING = frozenset({S.PENDING, S.SCHEDULED, S.PREPARING, S.PULLING})
_RUNNING = frozenset({S.RUNNING, S.RESTARTING, S.TERMINATING})
COUNT_KEYS = ("pending", "running", "success", "failure", "cancelled")
# Waiting cases cancelled per transaction: short enough not to hold the database for long.
_CANCEL_BATCH = 100


def _bucket(status: S, result: SessionResult) -> str:
    if status in _PENDING:
        return "pending"
    if status in _RUNNING:
        return "running"
    if status is S.CANCELLED:
        return "cancelled"
    if status is S.TERMINATED and result is SessionResult.SUCCESS:
        return "success"
    if status is S.ERROR or result is SessionResult.FAILURE:
        return "failure"
    # Terminated before its task ended (``rm``, the sweep's DELETE): it never finished.
    return "cancelled"


def _counts(states: Iterable[tuple[S, SessionResult, int]]) -> dict[str, int]:
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for status, result, n in states:
        counts[_bucket(status, result)] += n
    return counts


def _summary(sweep: Sweep, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": sweep.id, "name": sweep.name, "image": sweep.image,
        "created_at": sweep.created_at, "cases": sweep.cases, "counts": counts,
        "finished": counts["pending"] == 0 and counts["running"] == 0,
    }  # fmt: skip


def _exit_code(data: Mapping[str, Any] | None) -> int | None:
    code = (data or {}).get("exit_code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _index_of(sweep_name: str, session_name: str, position: int) -> int:
    """Case i is the session ``{name}-{i}``; its position among the cases otherwise (a name
    that is not one the sweep gave)."""
    suffix = session_name.removeprefix(f"{sweep_name}-")
    return int(suffix) if suffix != session_name and suffix.isdecimal() else position


def _case(row: sa.Row[Any], index: int) -> SweepCase:
    return SweepCase(
        index=index, session_id=row.id, session_name=row.name, environ=dict(row.environ or {}),
        task=row.startup_command or "", status=row.status.value, result=row.result.value,
        exit_code=_exit_code(row.status_data),
    )  # fmt: skip


def _too_many_waiting(count: int, live: int, concurrent: int, pending: int) -> QuotaExceeded:
    return QuotaExceeded(
        f"Cannot queue {count} cases: you already have {live} sessions, and your keypair may "
        f"hold {concurrent + pending} ({concurrent} running at once and {pending} more "
        f"waiting), so at most {max(concurrent + pending - live, 0)} more. Use fewer cases "
        "or wait for some sessions to end.",
        data={"count": count, "live": live, "max_concurrent_sessions": concurrent,
              "max_pending_session_count": pending},
    )  # fmt: skip


async def _check_room(db: AsyncSession, owner: Owner, count: int) -> None:
    """Within the transaction holding the owner's keypair lock: the cases must fit in what the
    keypair may hold, running or waiting, where the policy bounds the waiting ones. (Without
    that bound the cases just wait for the concurrency limit.)"""
    limits = await session_limits(db, owner)
    if limits is None or limits[1] <= 0:
        return
    live = await live_sessions(db, owner.access_key)
    if live + count > limits[0] + limits[1]:
        raise _too_many_waiting(count, live, *limits)


class SweepService:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        control: SessionControl,
        on_enqueue: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._control = control
        self._on_enqueue = on_enqueue

    async def create(
        self, principal: Principal, req: SweepRequest, base: CreateSessionRequest
    ) -> SweepInfo:
        """Queue every case of ``req`` (all or none) and answer at once."""
        name = req.name or f"sweep-{secrets.token_hex(5)}"
        cases = plan(req, base, name)
        first = base.model_copy(update={"startup_command": cases[0].task.describe() or "-"})
        now = utcnow()
        async with self._db() as db:
            owner = await load_owner(db, principal, base.owner_access_key)
            image = await images.resolve(db, base.image, principal)
            admitted = await admit(db, principal, first, owner, image, now)
        sweep = Sweep(
            id=uuid.uuid4(), name=name, access_key=owner.access_key, user_uuid=owner.user_uuid,
            image=image.name, spec=req.model_dump(mode="json", exclude_none=True),
            cases=len(cases), created_at=now,
        )  # fmt: skip
        rows = []
        for i, case in enumerate(cases):
            config = base.config.model_copy(update={"environ": case.environ})
            case_req = base.model_copy(
                update={"config": config, "startup_command": case.task.describe() or "-"}
            )
            # A microsecond apart, so that a first-come queue starts them in index order.
            s, k = session_rows(case.name, case_req, admitted, now + timedelta(microseconds=i))
            s.task, s.sweep_id = case.task.model_dump(mode="json"), sweep.id
            rows.append((s, k))
        async with self._db() as db, db.begin():
            await lock_row(db, KeyPair.access_key, owner.access_key)
            await self._check_names_free(db, owner.access_key, [c.name for c in cases])
            await ensure_running(db)
            await _check_room(db, owner, len(cases))
            db.add(sweep)
            await db.flush()
            for s, k in rows:
                await enqueue(db, s, [k], reason="user-requested")
        self._on_enqueue()
        return await self._info(sweep)

    @staticmethod
    async def _check_names_free(db: AsyncSession, access_key: str, names: list[str]) -> None:
        taken = sorted(
            await db.scalars(
                sa.select(Session.name).where(
                    Session.access_key == access_key,
                    Session.name.in_(names),
                    Session.status.in_(LIVE_STATUSES),
                )
            )
        )
        if taken:
            shown = ", ".join(taken[:10]) + (f" and {len(taken) - 10} more" if len(taken) > 10
                                              else "")  # fmt: skip
            raise SessionAlreadyExists(
                f"Sessions named {shown} already exist; choose another sweep name or terminate "
                "them first (nothing was created).",
                data={"existing": taken[:100]},
            )

    async def listing(
        self, principal: Principal, owner: str | None = None, limit: int = DEFAULT_LIST_LIMIT
    ) -> list[SweepSummary]:
        """The sweeps of the caller (or of ``owner``, an access key the caller may read the
        sessions of), newest first."""
        async with self._db() as db:
            access_key = await owner_access_key(db, principal, owner, Action.READ)
            sweeps = list(
                await db.scalars(
                    sa.select(Sweep)
                    .where(Sweep.access_key == access_key)
                    .order_by(Sweep.created_at.desc(), Sweep.id)
                    .limit(max(1, min(limit, MAX_LIST_LIMIT)))
                )
            )
            states = await db.execute(
                sa.select(Session.sweep_id, Session.status, Session.result, sa.func.count())
                .where(Session.sweep_id.in_([s.id for s in sweeps]))
                .group_by(Session.sweep_id, Session.status, Session.result)
            )
            per_sweep: dict[uuid.UUID, list[tuple[S, SessionResult, int]]] = {}
            for sweep_id, status, result, n in states:
                if sweep_id is not None:
                    per_sweep.setdefault(sweep_id, []).append((status, result, n))
        return [
            SweepSummary.model_validate(_summary(s, _counts(per_sweep.get(s.id, []))))
            for s in sweeps
        ]

    async def get(self, principal: Principal, sweep_id: uuid.UUID) -> SweepInfo:
        async with self._db() as db:
            sweep = await self._find(db, principal, sweep_id, Action.READ)
        return await self._info(sweep)

    async def cancel(self, principal: Principal, sweep_id: uuid.UUID) -> SweepInfo:
        """Cancel the cases that have not started and terminate those running, as ``rm`` does
        for each (the waiting ones first, so that none of them starts meanwhile). Cases that
        ended, or failed (ERROR, kept for reading until removed), are left as they are."""
        async with self._db() as db:
            sweep = await self._find(db, principal, sweep_id, Action.TERMINATE)
        await self._cancel_waiting(await self._cases_in(sweep.id, {S.PENDING}))
        for session_id in await self._cases_in(sweep.id, LIVE_STATUSES - {S.ERROR, S.TERMINATING}):
            # A case that ended or moved on meanwhile is no reason to stop cancelling others.
            with contextlib.suppress(SessionNotFound, InvalidSessionState):
                await self._control.terminate(session_id, wait=False)
        return await self._info(sweep)

    async def _cases_in(self, sweep_id: uuid.UUID, statuses: Set[S]) -> list[uuid.UUID]:
        async with self._db() as db:
            return list(
                await db.scalars(
                    sa.select(Session.id).where(
                        Session.sweep_id == sweep_id, Session.status.in_(statuses)
                    )
                )
            )

    async def _cancel_waiting(self, ids: list[uuid.UUID]) -> None:
        """What ``SessionControl.terminate`` does to a PENDING session, for many at a time: a
        transaction each made cancelling a thousand cases take half a minute."""
        for start in range(0, len(ids), _CANCEL_BATCH):
            chunk = ids[start : start + _CANCEL_BATCH]
            async with self._db() as db, db.begin():
                # As ``load_for_update``, for the chunk: on SQLite the first write takes the
                # database's write lock before anything is read; PostgreSQL locks the rows.
                await lock_row(db, Session.id, chunk[0])
                waiting = await db.scalars(
                    sa.select(Session)
                    .where(Session.id.in_(chunk))
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
                for s in waiting:
                    if s.status is S.PENDING:  # else it moved on: terminated below
                        await transition(db, s, S.CANCELLED, reason="user-requested")

    async def _find(
        self, db: AsyncSession, principal: Principal, sweep_id: uuid.UUID, action: Action
    ) -> Sweep:
        row = (
            await db.execute(
                sa.select(Sweep, User.domain_name, User.role)
                .join(User, User.uuid == Sweep.user_uuid)
                .where(Sweep.id == sweep_id)
            )
        ).one_or_none()
        missing = SweepNotFound(f"No sweep {sweep_id} of yours.")
        if row is None:
            raise missing
        sweep, domain_name, role = row
        target = Target.owned_by(sweep.user_uuid, domain_name, role)
        if not authz.permits(principal, Resource.SESSION, Action.READ, target):
            raise missing  # another user's reads exactly like one that does not exist
        authz.require(principal, Resource.SESSION, action, target, missing)
        return sweep

    async def _info(self, sweep: Sweep) -> SweepInfo:
        async with self._db() as db:
            rows = (
                await db.execute(
                    sa.select(
                        Session.id, Session.name, Session.environ, Session.startup_command,
                        Session.status, Session.result, Session.status_data,
                    )
                    .where(Session.sweep_id == sweep.id)
                    .order_by(Session.created_at, Session.name)  # created in index order
                )
            ).all()  # fmt: skip
        cases = [_case(r, _index_of(sweep.name, r.name, i)) for i, r in enumerate(rows)]
        tally = Counter((r.status, r.result) for r in rows)
        counts = _counts((status, result, n) for (status, result), n in tally.items())
        return SweepInfo.model_validate({**_summary(sweep, counts), "caseList": cases})
