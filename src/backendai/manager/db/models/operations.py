"""What administrators run the platform with: its shared configuration (the keys Backend.AI
keeps in etcd, ours in the database), the server error log, and dotfiles placed into every
new session's home."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backendai.manager.db.meta import Base, created_at_column, utcnow


class ConfigEntry(Base):
    """One key of the shared configuration (``admin etcd get/set/delete``); the announcement
    and the manager's frozen state are keys too. Keys are slash-separated paths."""

    __tablename__ = "config_entries"

    key: Mapped[str] = mapped_column(sa.String(512), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ErrorLog(Base):
    """A server error (every 5xx answer and every error an agent reports), for ``server-logs``."""

    __tablename__ = "error_logs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    severity: Mapped[str] = mapped_column(sa.String(16), default="error", index=True)
    source: Mapped[str] = mapped_column(sa.String(128), default="manager")  # or "agent:<id>"
    # The user whose request it was, if any; a purged user's entries stay, unattributed.
    user: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.uuid", ondelete="SET NULL"), index=True
    )
    is_read: Mapped[bool] = mapped_column(default=False)
    is_cleared: Mapped[bool] = mapped_column(default=False)
    message: Mapped[str] = mapped_column(sa.Text)
    context_lang: Mapped[str] = mapped_column(sa.String(32), default="python")
    context_env: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_url: Mapped[str | None] = mapped_column(sa.String(512))
    request_status: Mapped[int | None] = mapped_column()
    traceback: Mapped[str | None] = mapped_column(sa.Text)


class Dotfile(Base):
    """A file written into the home of every new session of its owner: a keypair's (user
    scope, as Backend.AI keys them), a group's members' or a domain's users'."""

    __tablename__ = "dotfiles"
    __table_args__ = (sa.UniqueConstraint("scope", "owner", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(sa.String(16))  # "user", "group" or "domain"
    # The access key (user scope), the group's id (group) or the domain's name (domain).
    owner: Mapped[str] = mapped_column(sa.String(256), index=True)
    path: Mapped[str] = mapped_column(sa.String(256))  # relative to /home/work
    permission: Mapped[str] = mapped_column(sa.String(4), default="644")  # octal
    data: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = created_at_column()
    modified_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
