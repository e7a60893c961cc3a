"""Resource groups (scaling groups), which domains/groups/keypairs may use them, and agents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backendai.common.statuses import AgentStatus
from backendai.manager.db.meta import Base, StrEnumType, created_at_column, utcnow


class ScalingGroup(Base):
    __tablename__ = "scaling_groups"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    description: Mapped[str | None] = mapped_column(sa.String(512))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at_column()
    wsproxy_addr: Mapped[str | None] = mapped_column(sa.String(1024))
    driver: Mapped[str] = mapped_column(sa.String(64), default="static")
    driver_opts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    scheduler: Mapped[str] = mapped_column(sa.String(64), default="fifo")
    scheduler_opts: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ScalingGroupForDomain(Base):
    __tablename__ = "sgroups_for_domains"
    __table_args__ = (sa.UniqueConstraint("scaling_group", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    scaling_group: Mapped[str] = mapped_column(
        sa.ForeignKey("scaling_groups.name", onupdate="CASCADE", ondelete="CASCADE"), index=True
    )
    domain: Mapped[str] = mapped_column(
        sa.ForeignKey("domains.name", onupdate="CASCADE", ondelete="CASCADE"), index=True
    )


class ScalingGroupForGroup(Base):
    __tablename__ = "sgroups_for_groups"
    __table_args__ = (sa.UniqueConstraint("scaling_group", "group"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    scaling_group: Mapped[str] = mapped_column(
        sa.ForeignKey("scaling_groups.name", onupdate="CASCADE", ondelete="CASCADE"), index=True
    )
    group: Mapped[Any] = mapped_column(
        sa.Uuid, sa.ForeignKey("groups.id", onupdate="CASCADE", ondelete="CASCADE"), index=True
    )


class ScalingGroupForKeyPair(Base):
    __tablename__ = "sgroups_for_keypairs"
    __table_args__ = (sa.UniqueConstraint("scaling_group", "access_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    scaling_group: Mapped[str] = mapped_column(
        sa.ForeignKey("scaling_groups.name", onupdate="CASCADE", ondelete="CASCADE"), index=True
    )
    access_key: Mapped[str] = mapped_column(
        sa.ForeignKey("keypairs.access_key", onupdate="CASCADE", ondelete="CASCADE"), index=True
    )


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    status: Mapped[AgentStatus] = mapped_column(StrEnumType(AgentStatus), index=True)
    status_changed: Mapped[datetime | None] = mapped_column(default=utcnow)
    region: Mapped[str] = mapped_column(sa.String(64), default="local")
    scaling_group: Mapped[str] = mapped_column(
        sa.ForeignKey("scaling_groups.name"), default="default", index=True
    )
    schedulable: Mapped[bool] = mapped_column(default=True)
    available_slots: Mapped[dict[str, str]] = mapped_column(default=dict)
    occupied_slots: Mapped[dict[str, str]] = mapped_column(default=dict)
    addr: Mapped[str] = mapped_column(sa.String(128))
    first_contact: Mapped[datetime] = created_at_column()
    lost_at: Mapped[datetime | None] = mapped_column()
    last_heartbeat: Mapped[datetime | None] = mapped_column()
    version: Mapped[str] = mapped_column(sa.String(64), default="")
    architecture: Mapped[str] = mapped_column(sa.String(32), default="x86_64")
    compute_plugins: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Canonical names of the session images the agent has locally (from its heartbeat).
    images: Mapped[list[str]] = mapped_column(default=list)
