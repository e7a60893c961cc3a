"""Virtual folders and session templates: what users keep between sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backendai.common.statuses import VFolderOwnership, VFolderPermission, VFolderUsageMode
from backendai.manager.db.meta import Base, StrEnumType, created_at_column


class VFolder(Base):
    __tablename__ = "vfolders"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    host: Mapped[str] = mapped_column(sa.String(128))
    name: Mapped[str] = mapped_column(sa.String(64), index=True)
    usage_mode: Mapped[VFolderUsageMode] = mapped_column(
        StrEnumType(VFolderUsageMode), default=VFolderUsageMode.GENERAL
    )
    permission: Mapped[VFolderPermission] = mapped_column(
        StrEnumType(VFolderPermission), default=VFolderPermission.READ_WRITE
    )
    max_files: Mapped[int] = mapped_column(default=0)
    max_size: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # bytes; 0 = unlimited
    num_files: Mapped[int] = mapped_column(default=0)
    cur_size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = created_at_column()
    last_used: Mapped[datetime | None] = mapped_column()
    creator: Mapped[str | None] = mapped_column(sa.String(128))
    unmanaged_path: Mapped[str | None] = mapped_column(sa.String(512))
    ownership_type: Mapped[VFolderOwnership] = mapped_column(
        StrEnumType(VFolderOwnership), default=VFolderOwnership.USER
    )
    user: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    group: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("groups.id", ondelete="CASCADE"), index=True
    )
    cloneable: Mapped[bool] = mapped_column(default=False)
    # "ready", or "trash" after ``vfolder delete`` (restorable until purged).
    status: Mapped[str] = mapped_column(sa.String(32), default="ready", index=True)
    trashed_at: Mapped[datetime | None] = mapped_column()
    domain_name: Mapped[str | None] = mapped_column(sa.String(64))


class VFolderShare(Base):
    """A user other than the owner who may use a folder (an accepted invitation, a share)."""

    __tablename__ = "vfolder_permissions"

    vfolder: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("vfolders.id", ondelete="CASCADE"), primary_key=True
    )
    user: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.uuid", ondelete="CASCADE"), primary_key=True, index=True
    )
    permission: Mapped[VFolderPermission] = mapped_column(StrEnumType(VFolderPermission))
    created_at: Mapped[datetime] = created_at_column()


class VFolderInvitation(Base):
    __tablename__ = "vfolder_invitations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    vfolder: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("vfolders.id", ondelete="CASCADE"), index=True
    )
    inviter: Mapped[str] = mapped_column(sa.String(128))  # e-mail
    invitee: Mapped[str] = mapped_column(sa.String(128), index=True)  # e-mail
    permission: Mapped[VFolderPermission] = mapped_column(StrEnumType(VFolderPermission))
    # pending, accepted, rejected, canceled
    state: Mapped[str] = mapped_column(sa.String(32), default="pending")
    created_at: Mapped[datetime] = created_at_column()
    modified_at: Mapped[datetime | None] = mapped_column()


class SessionTemplate(Base):
    __tablename__ = "session_templates"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)  # uuid4().hex, as 20.09 does
    created_at: Mapped[datetime] = created_at_column()
    is_active: Mapped[bool] = mapped_column(default=True, index=True)
    domain_name: Mapped[str] = mapped_column(sa.ForeignKey("domains.name"), index=True)
    group_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("groups.id"), index=True)
    user_uuid: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.uuid"), index=True)
    type: Mapped[str] = mapped_column(sa.String(16), default="TASK")
    name: Mapped[str | None] = mapped_column(sa.String(128))
    template: Mapped[dict[str, Any]] = mapped_column(default=dict)
