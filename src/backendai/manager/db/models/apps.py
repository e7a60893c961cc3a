"""App routes: which app of which session an app proxy serves to browsers, on which port.

Kept in the database, not in a manager's memory, so that every manager sees them and a proxy
that restarts can ask for the routes it must serve again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backendai.manager.db.meta import Base, created_at_column


class SessionAppRoute(Base):
    __tablename__ = "app_routes"
    # One route per app of a session: opening it again returns the same route.
    __table_args__ = (sa.UniqueConstraint("session_id", "app"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    kernel_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("kernels.id", ondelete="CASCADE"))
    app: Mapped[str] = mapped_column(sa.String(64))
    protocol: Mapped[str] = mapped_column(sa.String(16), default="http")
    proxy_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    port: Mapped[int] = mapped_column()
    # Where users reach it (the proxy's answer), without the token.
    url: Mapped[str] = mapped_column(sa.String(512))
    public: Mapped[bool] = mapped_column(default=False)
    # Kept while the route is public too, so that making it private again reuses it.
    token: Mapped[str] = mapped_column(sa.String(128))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    envs: Mapped[dict[str, str]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at_column()
