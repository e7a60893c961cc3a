"""Compute sessions, their kernels (containers) and the history of their status changes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backendai.common.statuses import ClusterMode, SessionResult, SessionStatus, SessionType
from backendai.manager.db.meta import Base, StrEnumType, created_at_column, utcnow


class Session(Base):
    __tablename__ = "sessions"
    # The scheduler reads PENDING sessions in priority and age order.
    __table_args__ = (sa.Index("ix_sessions_pending_order", "status", "priority", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(64), index=True)
    tag: Mapped[str | None] = mapped_column(sa.String(64))
    session_type: Mapped[SessionType] = mapped_column(
        StrEnumType(SessionType), default=SessionType.INTERACTIVE
    )
    cluster_mode: Mapped[ClusterMode] = mapped_column(
        StrEnumType(ClusterMode), default=ClusterMode.SINGLE_NODE
    )
    cluster_size: Mapped[int] = mapped_column(default=1)
    domain_name: Mapped[str] = mapped_column(sa.ForeignKey("domains.name"), index=True)
    group_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("groups.id"), index=True)
    user_uuid: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.uuid"), index=True)
    access_key: Mapped[str] = mapped_column(sa.ForeignKey("keypairs.access_key"), index=True)
    scaling_group_name: Mapped[str | None] = mapped_column(sa.ForeignKey("scaling_groups.name"))
    image: Mapped[str] = mapped_column(sa.String(512))  # canonical name after alias resolution
    status: Mapped[SessionStatus] = mapped_column(
        StrEnumType(SessionStatus), default=SessionStatus.PENDING, index=True
    )
    status_info: Mapped[str | None] = mapped_column(sa.String(256))
    status_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status_changed: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    result: Mapped[SessionResult] = mapped_column(
        StrEnumType(SessionResult), default=SessionResult.UNDEFINED
    )
    requested_slots: Mapped[dict[str, str]] = mapped_column(default=dict)
    occupying_slots: Mapped[dict[str, str]] = mapped_column(default=dict)
    resource_opts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    environ: Mapped[dict[str, str]] = mapped_column(default=dict)
    vfolder_mounts: Mapped[list[Any]] = mapped_column(default=list)
    bootstrap_script: Mapped[str | None] = mapped_column(sa.Text)
    startup_command: Mapped[str | None] = mapped_column(sa.Text)
    # A batch session's task (common.batch_tasks.BatchTask); None: its startup_command.
    task: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    sweep_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("sweeps.id", ondelete="SET NULL"), index=True
    )
    starts_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()
    terminated_at: Mapped[datetime | None] = mapped_column()
    priority: Mapped[int] = mapped_column(default=0)
    # Last time a user executed code or used an app; the idle timeout counts from here.
    last_activity: Mapped[datetime | None] = mapped_column()


class Kernel(Base):
    """One container of a session (single-node sessions have exactly one, the main kernel)."""

    __tablename__ = "kernels"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    cluster_role: Mapped[str] = mapped_column(sa.String(16), default="main")
    cluster_idx: Mapped[int] = mapped_column(default=1)
    cluster_hostname: Mapped[str] = mapped_column(sa.String(64), default="main1")
    agent: Mapped[str | None] = mapped_column(sa.ForeignKey("agents.id"), index=True)
    agent_addr: Mapped[str | None] = mapped_column(sa.String(128))
    container_id: Mapped[str | None] = mapped_column(sa.String(64))
    image: Mapped[str] = mapped_column(sa.String(512))
    architecture: Mapped[str] = mapped_column(sa.String(32), default="x86_64")
    status: Mapped[SessionStatus] = mapped_column(
        StrEnumType(SessionStatus), default=SessionStatus.PENDING, index=True
    )
    status_info: Mapped[str | None] = mapped_column(sa.String(256))
    status_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status_changed: Mapped[datetime] = mapped_column(default=utcnow)
    requested_slots: Mapped[dict[str, str]] = mapped_column(default=dict)
    occupied_slots: Mapped[dict[str, str]] = mapped_column(default=dict)
    occupied_shares: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attached_devices: Mapped[dict[str, Any]] = mapped_column(default=dict)
    service_ports: Mapped[list[Any]] = mapped_column(default=list)
    preopen_ports: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = created_at_column()
    terminated_at: Mapped[datetime | None] = mapped_column()
    last_stat: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    num_queries: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    container_log: Mapped[str | None] = mapped_column(sa.Text)


class SessionStatusChange(Base):
    """One row per status transition: when, to what, and why (the audit trail of a session)."""

    __tablename__ = "session_status_history"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    kernel_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("kernels.id", ondelete="CASCADE")
    )
    status: Mapped[SessionStatus] = mapped_column(StrEnumType(SessionStatus))
    reason: Mapped[str | None] = mapped_column(sa.String(256))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SessionDependency(Base):
    """``session_id`` starts only after ``depends_on`` has ended successfully (TERMINATED with
    result SUCCESS); it is cancelled when ``depends_on`` fails or is cancelled."""

    __tablename__ = "session_dependencies"

    session_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    depends_on: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
