"""Batch sessions' task logs: kept in the database when a session ends, and read back
(``GET SESSION_TASK_LOGS``, ``common.batch_tasks``).

A log is stored as rows of at most ``TASK_LOG_CHUNK`` bytes (``task_log_chunks``), copied from
the agent before the session's containers are destroyed, whichever way it ends. Copying and
reading both hold at most a couple of chunks whatever the size of the log, so many readers of
big logs cost little memory.

Copies may overlap (a user's ``rm`` while the task-finished path copies; two managers): each
appends after what is stored, and the row key ``(session_id, seq)`` lets only one write each
row; a copier that loses a row stops. Every row is thus written by a copier that also wrote
(or read) the rows before it, so the rows always form one prefix of the log.

A reader follows the agent while the session runs, and when the agent's stream ends with the
session ending (its container destroyed) it carries on from the stored rows at the byte it
reached: the copy was made before the destroy, so nothing is missing and nothing comes twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.batch_tasks import TASK_LOG_CHUNK, TaskState
from backendai.common.errors import AgentError, InvalidRequest, SessionNotFound
from backendai.common.statuses import SessionStatus as S
from backendai.common.statuses import SessionType
from backendai.manager import authz
from backendai.manager.agent_client import AgentClient
from backendai.manager.authz import Action, Resource, Target
from backendai.manager.db.models import Kernel, Session, TaskLogChunk, User
from backendai.manager.events import EventBus, EventName
from backendai.manager.services.auth import Principal

log = logging.getLogger(__name__)

KEEP_TIMEOUT = 30.0  # seconds a copy may take; an agent that does not answer loses the log
COPY_READ_TIMEOUT = 10.0  # a silence that long in a copy (not a follow) means a stuck agent
WAIT_POLL = 2.0  # seconds between re-reads of a waited-for session, should an event be lost
# A session not yet started: a following reader waits (its task has not run).
NOT_STARTED = frozenset({S.PENDING, S.SCHEDULED, S.PREPARING, S.PULLING})
# A session whose container runs its task: the agent has the log.
_ON_AGENT = frozenset({S.RUNNING, S.RESTARTING})
_WAKING = frozenset({EventName.SESSION_STARTED, EventName.KERNEL_STARTED}) | frozenset(
    e for e in EventName if e.ends_session or e is EventName.KERNEL_TERMINATING
)


@dataclass(frozen=True)
class TaskOutcome:
    """What the agent said of a task when its log was copied."""

    state: TaskState
    exit_code: int | None


@dataclass(frozen=True)
class TaskTarget:
    """A batch session's main kernel, where its task runs."""

    session_id: uuid.UUID
    kernel_id: uuid.UUID
    addr: str


class _Raced(Exception):
    """Another copier wrote the row this one was about to write."""


class TaskLogStore:
    def __init__(self, db: async_sessionmaker[AsyncSession], agents: AgentClient) -> None:
        self._db = db
        self._agents = agents

    async def keep(self, targets: list[TaskTarget]) -> dict[uuid.UUID, TaskOutcome]:
        """Copy these batch sessions' task logs from their agents into the database (best
        effort, ``KEEP_TIMEOUT`` each). Returns what each agent said of its task, by session."""
        outcomes: dict[uuid.UUID, TaskOutcome] = {}
        for target in targets:
            try:
                async with asyncio.timeout(KEEP_TIMEOUT):
                    outcome = await self._copy(target)
            except (TimeoutError, AgentError, InvalidRequest) as e:
                log.warning("the task log of session %s was not kept: %s", target.session_id,
                            e or type(e).__name__)  # fmt: skip
                continue
            except _Raced:
                log.info("the task log of session %s is being kept by another copy",
                         target.session_id)  # fmt: skip
                continue
            if outcome is not None:
                outcomes[target.session_id] = outcome
        return outcomes

    async def _copy(self, target: TaskTarget) -> TaskOutcome | None:
        seq, offset = await self.tail(target.session_id)
        async with self._agents.task_log(
            target.addr, target.kernel_id, offset=offset, read_timeout=COPY_READ_TIMEOUT
        ) as stream:
            if stream is None:
                return None
            buf = bytearray()
            async for chunk in stream.chunks:
                buf += chunk
                while len(buf) >= TASK_LOG_CHUNK:
                    await self._append(target.session_id, seq, bytes(buf[:TASK_LOG_CHUNK]))
                    del buf[:TASK_LOG_CHUNK]
                    seq += 1
            if buf:
                await self._append(target.session_id, seq, bytes(buf))
            return TaskOutcome(stream.state, stream.exit_code)

    async def _append(self, session_id: uuid.UUID, seq: int, data: bytes) -> None:
        try:
            async with self._db() as db, db.begin():
                db.add(TaskLogChunk(session_id=session_id, seq=seq, data=data))
        except IntegrityError as e:
            raise _Raced() from e

    async def tail(self, session_id: uuid.UUID) -> tuple[int, int]:
        """(the next row's seq, the stored size in bytes)."""
        async with self._db() as db:
            count, size = (
                await db.execute(
                    sa.select(
                        sa.func.coalesce(sa.func.max(TaskLogChunk.seq) + 1, 0),
                        sa.func.coalesce(sa.func.sum(sa.func.length(TaskLogChunk.data)), 0),
                    ).where(TaskLogChunk.session_id == session_id)
                )
            ).one()
        return int(count), int(size)

    async def read(self, session_id: uuid.UUID, offset: int = 0) -> AsyncIterator[bytes]:
        """The stored log from byte ``offset``, one row at a time (one short read each)."""
        async with self._db() as db:
            sizes = (
                await db.execute(
                    sa.select(TaskLogChunk.seq, sa.func.length(TaskLogChunk.data))
                    .where(TaskLogChunk.session_id == session_id)
                    .order_by(TaskLogChunk.seq)
                )
            ).all()
        pos = 0
        for seq, size in sizes:
            if pos + size <= offset:
                pos += size
                continue
            async with self._db() as db:
                data = await db.scalar(
                    sa.select(TaskLogChunk.data).where(
                        TaskLogChunk.session_id == session_id, TaskLogChunk.seq == seq
                    )
                )
            if data:
                yield data[max(0, offset - pos) :]
            pos += size


@dataclass(frozen=True)
class _Now:
    status: S
    target: TaskTarget | None


class TaskLogReader:
    """``GET SESSION_TASK_LOGS``: find the task a user may read, then stream its log."""

    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        agents: AgentClient,
        bus: EventBus,
        store: TaskLogStore | None = None,
    ) -> None:
        self._db = db
        self._agents = agents
        self._bus = bus
        self._store = store or TaskLogStore(db, agents)

    async def find(self, principal: Principal, task_id: uuid.UUID) -> uuid.UUID:
        """The session whose task ``task_id`` is (its id, or its main kernel's), if the
        caller may read it; another user's task is not found, as one that does not exist."""
        async with self._db() as db:
            s = await db.get(Session, task_id)
            if s is None:
                sid = await db.scalar(sa.select(Kernel.session_id).where(Kernel.id == task_id))
                s = await db.get(Session, sid) if sid is not None else None
            role = None
            if s is not None:
                role = await db.scalar(sa.select(User.role).where(User.uuid == s.user_uuid))
        owner = Target.owned_by(s.user_uuid, s.domain_name, role) if s and role else None
        # Beyond the caller's reach reads as missing, as in every session lookup.
        if (
            s is None
            or owner is None
            or not authz.permits(principal, Resource.SESSION, Action.READ, owner)
        ):
            raise SessionNotFound(f"No batch task {task_id}.")
        if s.session_type is not SessionType.BATCH:
            raise InvalidRequest(
                f"The session {s.name} ({s.id}) is interactive: it has no task log. "
                "Read its container log with `logs` instead."
            )
        return s.id

    async def stream(
        self, session_id: uuid.UUID, *, follow: bool, offset: int = 0
    ) -> AsyncGenerator[bytes, None]:
        """The task log: from the agent while the task runs (to its end with ``follow``),
        else as stored. Yields ``b""`` now and then while it waits for the session to start,
        so that the caller may look whether its client is still there. ``offset``: the first
        byte wanted."""
        if follow:
            async for beat in self._wait_started(session_id):
                yield beat
        loop = asyncio.get_running_loop()
        give_up: float | None = None  # while the agent fails and the session still runs
        now = await self._now(session_id)
        while now.status in _ON_AGENT | {S.TERMINATING, S.ERROR} and now.target is not None:
            try:
                async with self._agents.task_log(
                    now.target.addr, now.target.kernel_id, offset=offset, follow=follow
                ) as stream:
                    if stream is None:
                        break  # destroyed meanwhile: the stored copy has it
                    async for chunk in stream.chunks:
                        offset += len(chunk)
                        yield chunk
            except AgentError as e:
                log.info("the task log of session %s broke off at %d: %s", session_id, offset, e)
                now = await self._now(session_id)
                give_up = give_up or loop.time() + self._agents.retry_window
                if now.status in _ON_AGENT and loop.time() < give_up:
                    await asyncio.sleep(WAIT_POLL)  # the agent restarts, say: ask it again
                    continue
                break
            now = await self._now(session_id)
            if not follow or now.status in _ON_AGENT:
                return  # all there was now, or the task ended and all of it was sent
            break
        async for chunk in self._store.read(session_id, offset):
            yield chunk

    async def _now(self, session_id: uuid.UUID) -> _Now:
        main = sa.and_(Kernel.session_id == Session.id, Kernel.cluster_role == "main")
        async with self._db() as db:
            row = (
                await db.execute(
                    sa.select(Session.status, Kernel.id, Kernel.agent_addr)
                    .outerjoin(Kernel, main)
                    .where(Session.id == session_id)
                )
            ).first()
        if row is None:
            return _Now(S.CANCELLED, None)
        status, kid, addr = row
        return _Now(status, TaskTarget(session_id, kid, addr) if kid and addr else None)

    async def _wait_started(self, session_id: uuid.UUID) -> AsyncIterator[bytes]:
        """Until the session runs or ended, driven by its events (and a re-read every
        ``WAIT_POLL`` seconds, should one be lost)."""
        async with self._bus.subscribe() as sub:
            while (await self._now(session_id)).status in NOT_STARTED:
                try:
                    while (ev := await sub.get(max_wait=WAIT_POLL)) is not None:
                        if ev.session_id == session_id and ev.name in _WAKING:
                            break
                except EOFError:
                    await asyncio.sleep(WAIT_POLL)
                yield b""
