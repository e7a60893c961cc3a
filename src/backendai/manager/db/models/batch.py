"""Batch sessions' task logs, and sweeps (one request for many batch sessions).

Task logs are kept in rows of at most ``TASK_LOG_CHUNK`` bytes, so a reader streams one row at
a time whatever the size of the log (a hostile task prints as much as its limit lets it).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backendai.manager.db.meta import Base, created_at_column


class TaskLogChunk(Base):
    __tablename__ = "task_log_chunks"

    session_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


class Sweep(Base):
    """A parametric run submitted as one job: its cases are the sessions whose ``sweep_id``
    is this one's (case ``i`` is named ``{name}-{i}``)."""

    __tablename__ = "sweeps"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(64))
    access_key: Mapped[str] = mapped_column(
        sa.String(20), sa.ForeignKey("keypairs.access_key", ondelete="CASCADE"), index=True
    )
    user_uuid: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    image: Mapped[str] = mapped_column(sa.String(512))
    # The request as submitted (ranges, templates, task), for people reading it later.
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cases: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = created_at_column()
