"""A database with agents and pending sessions, and one scheduling pass over it (the real
snapshot, policy and applier), for the scheduler's database tests and the benchmark."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.statuses import AgentStatus
from backendai.common.statuses import SessionStatus as S
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import Agent, Group, Kernel, KeyPair, Session
from backendai.manager.scheduler.applier import apply_plan
from backendai.manager.scheduler.policy import Plan, schedule
from backendai.manager.scheduler.snapshot import load_snapshot
from backendai.manager.services.bootstrap import bootstrap

IMG = "img:1"


@dataclass
class World:
    db: async_sessionmaker[AsyncSession]
    keys: list[str]  # the bootstrapped keypairs (superadmin's, demo's)
    group_id: uuid.UUID

    async def add_agents(self, n: int, prefix: str = "a", **slots: str) -> list[str]:
        ids = [f"{prefix}{i:04d}" for i in range(n)]
        async with self.db() as db, db.begin():
            db.add_all(
                Agent(id=i, status=AgentStatus.ALIVE, addr="http://127.0.0.1:1",
                      available_slots=dict(slots), images=[IMG])
                for i in ids
            )  # fmt: skip
        return ids

    async def add_pending(
        self, key: str, n: int, start: int = 0, created: datetime | None = None, **kw: Any
    ) -> list[uuid.UUID]:
        slots = kw.pop("slots", {"cpu": "1"})
        group = kw.pop("scaling_group_name", "default")
        ids = [uuid.uuid4() for _ in range(n)]
        base = created or utcnow()
        user = await self._user(key)
        sessions = [
            dict(id=sid, name=f"s-{start + i}", domain_name="default", group_id=self.group_id,
                 user_uuid=user, access_key=key, image=IMG, requested_slots=slots,
                 scaling_group_name=group,
                 status=S.PENDING, created_at=base + timedelta(microseconds=i),
                 status_changed=base, **kw)
            for i, sid in enumerate(ids)
        ]  # fmt: skip
        kernels = [dict(id=sid, session_id=sid, image=IMG, requested_slots=slots,
                        status=S.PENDING) for sid in ids]  # fmt: skip
        async with self.db() as db, db.begin():
            for chunk in range(0, n, 2000):
                await db.execute(sa.insert(Session), sessions[chunk : chunk + 2000])
                await db.execute(sa.insert(Kernel), kernels[chunk : chunk + 2000])
        return ids

    async def _user(self, key: str) -> uuid.UUID:
        async with self.db() as db:
            user = await db.scalar(sa.select(KeyPair.user).where(KeyPair.access_key == key))
        assert user is not None
        return user

    async def one_pass(self, now: datetime | None = None) -> tuple[Plan, list[uuid.UUID]]:
        async with self.db() as db:
            snapshot = await load_snapshot(db, now or utcnow())
        plan = schedule(snapshot)
        return plan, await apply_plan(self.db, plan)

    async def statuses(self) -> dict[uuid.UUID, S]:
        async with self.db() as db:
            rows = await db.execute(sa.select(Session.id, Session.status))
            return {sid: status for sid, status in rows}


async def make_world(db: async_sessionmaker[AsyncSession]) -> World:
    await bootstrap(db)
    async with db() as s:
        keys = list(
            await s.scalars(sa.select(KeyPair.access_key).order_by(KeyPair.is_admin.desc()))
        )
        group_id = await s.scalar(sa.select(Group.id).limit(1))
    assert group_id is not None
    return World(db, keys, group_id)
