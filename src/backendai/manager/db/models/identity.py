"""Who is who: domains, groups (projects), users and their API keypairs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backendai.common.statuses import UserRole, UserStatus
from backendai.manager.db.meta import Base, StrEnumType, created_at_column, utcnow


class Domain(Base):
    __tablename__ = "domains"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    description: Mapped[str | None] = mapped_column(sa.String(512))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at_column()
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Slot name -> decimal string; empty means unlimited.
    total_resource_slots: Mapped[dict[str, str]] = mapped_column(default=dict)
    allowed_vfolder_hosts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    allowed_docker_registries: Mapped[list[str]] = mapped_column(default=list)
    integration_id: Mapped[str | None] = mapped_column(sa.String(512))


class Group(Base):
    """A project: users belong to groups, and sessions and group folders belong to one."""

    __tablename__ = "groups"
    __table_args__ = (sa.UniqueConstraint("name", "domain_name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(64))
    description: Mapped[str | None] = mapped_column(sa.String(512))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at_column()
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    domain_name: Mapped[str] = mapped_column(
        sa.ForeignKey("domains.name", onupdate="CASCADE", ondelete="CASCADE"), index=True
    )
    total_resource_slots: Mapped[dict[str, str]] = mapped_column(default=dict)
    allowed_vfolder_hosts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    integration_id: Mapped[str | None] = mapped_column(sa.String(512))
    resource_policy: Mapped[str | None] = mapped_column(
        sa.ForeignKey("group_resource_policies.name")
    )


class User(Base):
    __tablename__ = "users"

    uuid: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    email: Mapped[str] = mapped_column(sa.String(64), unique=True, index=True)
    password: Mapped[str] = mapped_column(sa.String(128))  # bcrypt hash, never the password
    need_password_change: Mapped[bool] = mapped_column(default=False)
    full_name: Mapped[str | None] = mapped_column(sa.String(64))
    description: Mapped[str | None] = mapped_column(sa.String(500))
    status: Mapped[UserStatus] = mapped_column(StrEnumType(UserStatus), default=UserStatus.ACTIVE)
    status_info: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = created_at_column()
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    domain_name: Mapped[str] = mapped_column(
        sa.ForeignKey("domains.name", onupdate="CASCADE"), index=True
    )
    role: Mapped[UserRole] = mapped_column(StrEnumType(UserRole), default=UserRole.USER)
    resource_policy: Mapped[str] = mapped_column(
        sa.ForeignKey("user_resource_policies.name"), default="default"
    )
    integration_id: Mapped[str | None] = mapped_column(sa.String(512))


class GroupMembership(Base):
    __tablename__ = "association_groups_users"
    __table_args__ = (sa.UniqueConstraint("group_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    group_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("groups.id", onupdate="CASCADE", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.uuid", onupdate="CASCADE", ondelete="CASCADE"), index=True
    )


class KeyPair(Base):
    __tablename__ = "keypairs"

    access_key: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    secret_key: Mapped[str] = mapped_column(sa.String(40))
    # The owner's email, as Backend.AI's API reports it, and the owner's UUID.
    user_id: Mapped[str] = mapped_column(sa.String(256), index=True)
    user: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    is_active: Mapped[bool] = mapped_column(default=True, index=True)
    is_admin: Mapped[bool] = mapped_column(default=False, index=True)
    created_at: Mapped[datetime] = created_at_column()
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_used: Mapped[datetime | None] = mapped_column()
    rate_limit: Mapped[int] = mapped_column(default=10000)
    num_queries: Mapped[int] = mapped_column(default=0)
    resource_policy: Mapped[str] = mapped_column(
        sa.ForeignKey("keypair_resource_policies.name"), default="default"
    )
    ssh_public_key: Mapped[str | None] = mapped_column(sa.Text)
    ssh_private_key: Mapped[str | None] = mapped_column(sa.Text)
