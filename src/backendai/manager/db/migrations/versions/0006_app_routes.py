"""App routes: the apps of sessions that app proxies serve to browsers.

Revision ID: 0006_app_routes
Revises: 0005_vfolders
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_app_routes"
down_revision: str | None = "0005_vfolders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_routes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("kernel_id", sa.Uuid(), nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("protocol", sa.String(16), nullable=False),
        sa.Column("proxy_id", sa.String(64), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(512), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("token", sa.String(128), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=False),
        sa.Column("envs", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_routes")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"],
            name=op.f("fk_app_routes_session_id_sessions"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["kernel_id"], ["kernels.id"],
            name=op.f("fk_app_routes_kernel_id_kernels"), ondelete="CASCADE",
        ),
        sa.UniqueConstraint("session_id", "app", name=op.f("uq_app_routes_session_id_app")),
        sa.Index(op.f("ix_app_routes_session_id"), "session_id"),
        sa.Index(op.f("ix_app_routes_proxy_id"), "proxy_id"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("app_routes")
