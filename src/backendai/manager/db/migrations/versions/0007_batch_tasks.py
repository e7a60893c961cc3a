"""Batch tasks and sweeps: sessions' tasks, their stored logs, and sweeps of batch sessions.

Revision ID: 0007_batch_tasks
Revises: 0006_app_routes
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_batch_tasks"
down_revision: str | None = "0006_app_routes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("access_key", sa.String(20), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("image", sa.String(512), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
        sa.ForeignKeyConstraint(
            ["access_key"], ["keypairs.access_key"],
            name=op.f("fk_sweeps_access_key_keypairs"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_uuid"], ["users.uuid"],
            name=op.f("fk_sweeps_user_uuid_users"), ondelete="CASCADE",
        ),
        sa.Index(op.f("ix_sweeps_access_key"), "access_key"),
        sa.Index(op.f("ix_sweeps_user_uuid"), "user_uuid"),
    )  # fmt: skip
    op.create_table(
        "task_log_chunks",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "seq", name=op.f("pk_task_log_chunks")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"],
            name=op.f("fk_task_log_chunks_session_id_sessions"), ondelete="CASCADE",
        ),
    )  # fmt: skip
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("task", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("sweep_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_sessions_sweep_id_sweeps"), "sweeps", ["sweep_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip
        batch.create_index(op.f("ix_sessions_sweep_id"), ["sweep_id"])


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index(op.f("ix_sessions_sweep_id"))
        batch.drop_constraint(op.f("fk_sessions_sweep_id_sweeps"), type_="foreignkey")
        batch.drop_column("sweep_id")
        batch.drop_column("task")
    op.drop_table("task_log_chunks")
    op.drop_table("sweeps")
