"""Creating (or reusing) a session, and describing one (API_CONTRACT §2.1, §2.5).

A create request is checked before anything is written: its fields (``session_request``),
name, image, group, dependencies and resources (whether any alive agent, and its keypair's,
group's and domain's totals, could ever give them). The session is then added, PENDING, in one
transaction that holds a lock on the owner's keypair row and, under it, re-checks the name and
counts the owner's sessions against what the keypair may hold at all (its concurrency limit
plus the sessions it may keep waiting), so that concurrent creates cannot overshoot it. Whether
and when it starts is the scheduler's (``scheduler.predicates``). A failed request leaves no
row and reaches no agent.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import SessionAlreadyExists
from backendai.common.pending import PendingReason, pending_status_info
from backendai.common.session_request import (
    CreateSessionRequest,
    validate_name,
)
from backendai.common.statuses import SessionStatus as S
from backendai.manager.db.locks import lock_row
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import Image, Kernel, KeyPair, Session, SessionDependency
from backendai.manager.events import EventBus, EventName, Subscription
from backendai.manager.lifecycle import FINAL_STATUSES, LIVE_STATUSES, enqueue
from backendai.manager.services import images
from backendai.manager.services.auth import Principal
from backendai.manager.services.manager_status import ensure_running
from backendai.manager.services.session_checks import (
    Owner,
    check_quota,
    load_owner,
)
from backendai.manager.services.session_rows import admit, session_rows, session_type_of

# Statuses a waiting create request returns on.
_SETTLED = frozenset({S.RUNNING, S.ERROR, S.CANCELLED, S.TERMINATED, S.TERMINATING})
_WAIT_POLL_S = 2.0
_ENDING_WAIT_S = 30.0
# Events of steps on the way (never a status a waiting request returns on): no re-read.
_PROGRESS_EVENTS = frozenset(
    {
        EventName.SESSION_ENQUEUED, EventName.SESSION_PENDING, EventName.SESSION_SCHEDULED,
        EventName.SESSION_PREPARING,
        EventName.KERNEL_ENQUEUED, EventName.KERNEL_PREPARING, EventName.KERNEL_PULLING,
        EventName.KERNEL_CREATING,
    }
)  # fmt: skip  # a new session waits this long for a terminating namesake to end


def service_ports_of(kernel: Kernel | None) -> list[dict[str, Any]]:
    """The kernel's apps as the client lists them: ``{name, protocol, ports}``."""
    if kernel is None:
        return []
    return [
        {"name": p["name"], "protocol": p["protocol"], "ports": list(p.get("container_ports", []))}
        for p in kernel.service_ports
        if isinstance(p, dict) and "name" in p
    ]


@dataclass
class CreateResult:
    session: Session
    created: bool
    status: str  # a SessionStatus, or TIMEOUT when maxWaitSeconds ran out first
    service_ports: list[dict[str, Any]]

    def wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "sessionId": str(self.session.id),
            "sessionName": self.session.name,
            "status": self.status,
            "created": self.created,
            "servicePorts": self.service_ports,
        }
        if not self.created:
            body["service_ports"] = self.service_ports  # manager 20.09's spelling on reuse
        if self.session.status_info:
            body["statusInfo"] = self.session.status_info
        if self.session.status_data and self.status in ("ERROR", "CANCELLED", "TERMINATED"):
            # Why it ended (a failed bootstrap script's output, a batch task's exit code):
            # the client shows it instead of a bare status.
            body["statusData"] = self.session.status_data
        return body


async def main_kernel(db: AsyncSession, session_id: uuid.UUID) -> Kernel | None:
    return await db.scalar(
        sa.select(Kernel)
        .where(Kernel.session_id == session_id)
        .order_by(Kernel.cluster_role != "main", Kernel.cluster_idx)
        .limit(1)
    )


class SessionService:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        bus: EventBus,
        on_enqueue: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._bus = bus
        self._on_enqueue = on_enqueue

    async def create(self, principal: Principal, req: CreateSessionRequest) -> CreateResult:
        name = req.name or f"pysdk-{secrets.token_hex(5)}"
        validate_name(name)
        session_type_of(req)
        now = utcnow()
        async with self._db() as db:
            owner = await load_owner(db, principal, req.owner_access_key)
            image = await images.resolve(db, req.image, principal)
            existing = await self._existing(db, owner.access_key, name)
            if existing is not None and existing.status is S.TERMINATING:
                # Its name is free once its containers are gone (`rm` answers before that).
                await self._until_ended(existing.id)
                existing = await self._existing(db, owner.access_key, name)
            if existing is not None:
                return await self._reuse(db, existing, image, req)
            admitted = await admit(db, principal, req, owner, image, now)
        session, kernel = session_rows(name, req, admitted, now)
        depends_on = admitted.depends_on
        async with self._bus.subscribe() as sub:
            async with self._db() as db, db.begin():
                await lock_row(db, KeyPair.access_key, owner.access_key)
                existing = await self._existing(db, owner.access_key, name)
                if existing is None:
                    # Counted under the owner's lock, in the transaction that inserts: two
                    # concurrent creates can no longer both see room for one more session.
                    await ensure_running(db)  # a frozen manager starts no new sessions
                    await check_quota(db, owner)
                    await enqueue(db, session, [kernel], reason="user-requested")
                    db.add_all(SessionDependency(session_id=session.id, depends_on=d)
                               for d in depends_on)  # fmt: skip
            if existing is not None:  # created by a concurrent request meanwhile
                async with self._db() as db:
                    return await self._reuse(db, existing, image, req)
            self._on_enqueue()
            if req.enqueue_only:
                return CreateResult(session, True, S.PENDING.value, [])
            return await self._wait(sub, session.id, req.max_wait_seconds)

    async def create_batch(
        self, principal: Principal, req: CreateSessionRequest
    ) -> list[CreateResult]:
        """``req.count`` sessions NAME-1..NAME-N, queued (see ``session_batch``)."""
        from backendai.manager.services.session_batch import create_batch

        created = await create_batch(self._db, self._on_enqueue, principal, req)
        return [CreateResult(s, True, s.status.value, []) for s in created]

    async def _existing(self, db: AsyncSession, access_key: str, name: str) -> Session | None:
        return await db.scalar(
            sa.select(Session)
            .where(
                Session.access_key == access_key,
                Session.name == name,
                Session.status.in_(LIVE_STATUSES),
            )
            .execution_options(populate_existing=True)
        )

    async def _until_ended(self, session_id: uuid.UUID) -> None:
        """Until a TERMINATING session has ended (at most _ENDING_WAIT_S seconds)."""
        async with self._bus.subscribe() as sub:
            await self._wait_for(sub, session_id, FINAL_STATUSES | {S.ERROR}, _ENDING_WAIT_S)

    async def _reuse(
        self, db: AsyncSession, s: Session, image: Image, req: CreateSessionRequest
    ) -> CreateResult:
        if not req.reuse_if_exists or s.image != image.name:
            why = (
                "you asked not to reuse it"
                if not req.reuse_if_exists
                else f"it runs {s.image}, not {image.name}"
            )
            raise SessionAlreadyExists(
                f"A session named {s.name!r} already exists ({s.status.value}) and {why}. "
                "Choose another name or terminate it first.",
                data={"existingSessionId": str(s.id)},
            )
        return CreateResult(s, False, s.status.value, service_ports_of(await main_kernel(db, s.id)))

    async def _wait(self, sub: Subscription, session_id: uuid.UUID, max_wait: int) -> CreateResult:
        # Just enqueued: PENDING until its events say otherwise.
        s = await self._wait_for(sub, session_id, _SETTLED, max_wait, read_first=False)
        async with self._db() as db:
            if s is None:
                return CreateResult(await db.get_one(Session, session_id), True, "TIMEOUT", [])
            ports = service_ports_of(await main_kernel(db, s.id))
        return CreateResult(s, True, s.status.value, ports)

    async def _wait_for(
        self,
        sub: Subscription,
        session_id: uuid.UUID,
        statuses: frozenset[S],
        max_wait: float,
        *,
        read_first: bool = True,
    ) -> Session | None:
        """The session once its status is one of ``statuses``, or None when ``max_wait``
        seconds (0: no limit) pass first. Driven by the session's events: the status is read
        again after each one that may end the wait (and every _WAIT_POLL_S, should an event be
        lost), not polled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait if max_wait > 0 else None
        while True:
            if read_first:
                async with self._db() as db:
                    s = await db.get_one(Session, session_id)
                    if s.status in statuses:
                        return s
            read_first = True
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return None
            wait = _WAIT_POLL_S if left is None else min(left, _WAIT_POLL_S)
            try:
                while (ev := await sub.get(max_wait=wait)) is not None:
                    if ev.session_id == session_id and ev.name not in _PROGRESS_EVENTS:
                        break
            except EOFError:
                await asyncio.sleep(min(wait, 0.5))

    async def info(self, s: Session) -> dict[str, Any]:
        """``GET /session/{name}``: manager 20.09's shape."""
        async with self._db() as db:
            k = await main_kernel(db, s.id)
        registry, _, tag = images.split_name(s.image)
        now = utcnow()
        pending = (
            PendingReason.from_status_data(s.status_data, s.status_info)
            if s.status is S.PENDING
            else None
        )
        return {
            "domainName": s.domain_name,
            "groupId": str(s.group_id),
            "userId": str(s.user_uuid),
            "lang": s.image,
            "image": s.image,
            "registry": registry,
            "tag": tag,
            "containerId": k.container_id if k else None,
            "occupiedSlots": s.occupying_slots or s.requested_slots,
            "occupiedShares": k.occupied_shares if k else {},
            "environ": s.environ,
            "status": s.status.value,
            "statusInfo": pending_status_info(
                s.status.value, s.status_info, s.status_data, s.scaling_group_name
            ),
            "statusData": s.status_data,
            "scalingGroup": s.scaling_group_name,
            "queuePosition": pending.queue_position if pending else None,
            "estimatedStart": (
                pending.estimated_start.isoformat() if pending and pending.estimated_start else None
            ),
            "age": int(((s.terminated_at or now) - s.created_at).total_seconds() * 1000),
            "creationTime": s.created_at.isoformat(),
            "terminationTime": s.terminated_at.isoformat() if s.terminated_at else None,
            "numQueriesExecuted": k.num_queries if k else 0,
            "lastStat": k.last_stat if k else None,
        }


__all__ = ["CreateResult", "CreateSessionRequest", "Owner", "SessionService"]
