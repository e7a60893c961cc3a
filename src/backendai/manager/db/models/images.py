"""Container images known to the platform and their short aliases (``python`` -> full name)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backendai.manager.db.meta import Base, created_at_column


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (sa.UniqueConstraint("name", "architecture"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # The canonical reference, e.g. "backendai/python:3.11-debian12".
    name: Mapped[str] = mapped_column(sa.String(512), index=True)
    registry_name: Mapped[str] = mapped_column("registry", sa.String(256), default="local")
    image: Mapped[str] = mapped_column(sa.String(256))  # the repository part, e.g. backendai/python
    tag: Mapped[str] = mapped_column(sa.String(128))
    architecture: Mapped[str] = mapped_column(sa.String(32), default="x86_64")
    config_digest: Mapped[str] = mapped_column(sa.String(128), default="")
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[datetime] = created_at_column()
    labels: Mapped[dict[str, str]] = mapped_column(default=dict)
    # Slot name -> {"min": decimal string, "max": decimal string | None}
    resources: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # A private image (a session committed to an image) is usable by its owner only, and by
    # its group's members when one is set; images without an owner are everyone's.
    owner_user: Mapped[uuid.UUID | None] = mapped_column(index=True)
    owner_group: Mapped[uuid.UUID | None] = mapped_column(index=True)


class ImageAlias(Base):
    __tablename__ = "image_aliases"

    alias: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    image_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("images.id", ondelete="CASCADE"), index=True
    )
