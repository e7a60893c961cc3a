"""Resource policies: limits attached to keypairs, users and groups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backendai.common.statuses import DefaultForUnspecified
from backendai.manager.db.meta import Base, StrEnumType, created_at_column

DEFAULT_IDLE_TIMEOUT = 1800  # seconds; seed 001: sessions idle for 30 minutes are reclaimed


class KeyPairResourcePolicy(Base):
    __tablename__ = "keypair_resource_policies"

    name: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    created_at: Mapped[datetime] = created_at_column()
    default_for_unspecified: Mapped[DefaultForUnspecified] = mapped_column(
        StrEnumType(DefaultForUnspecified), default=DefaultForUnspecified.UNLIMITED
    )
    total_resource_slots: Mapped[dict[str, str]] = mapped_column(default=dict)
    max_session_lifetime: Mapped[int] = mapped_column(default=0)
    max_concurrent_sessions: Mapped[int] = mapped_column(default=30)
    # Sessions that may wait (PENDING) beyond max_concurrent_sessions; a create past both is
    # refused at submit (0: none may wait for the concurrency limit).
    max_pending_session_count: Mapped[int] = mapped_column(default=0, server_default="0")
    max_containers_per_session: Mapped[int] = mapped_column(default=1)
    max_vfolder_count: Mapped[int] = mapped_column(default=10)
    max_vfolder_size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    idle_timeout: Mapped[int] = mapped_column(default=DEFAULT_IDLE_TIMEOUT)
    allowed_vfolder_hosts: Mapped[dict[str, Any]] = mapped_column(default=dict)


class UserResourcePolicy(Base):
    __tablename__ = "user_resource_policies"

    name: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    created_at: Mapped[datetime] = created_at_column()
    max_vfolder_count: Mapped[int] = mapped_column(default=10)
    max_quota_scope_size: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class GroupResourcePolicy(Base):
    __tablename__ = "group_resource_policies"

    name: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    created_at: Mapped[datetime] = created_at_column()
    total_resource_slots: Mapped[dict[str, str]] = mapped_column(default=dict)
    max_vfolder_count: Mapped[int] = mapped_column(default=10)


class ResourcePreset(Base):
    """A named size of session (``resource_presets``, ``check-presets``)."""

    __tablename__ = "resource_presets"

    name: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    resource_slots: Mapped[dict[str, str]] = mapped_column(default=dict)
    shared_memory: Mapped[int | None] = mapped_column(sa.BigInteger)  # bytes
