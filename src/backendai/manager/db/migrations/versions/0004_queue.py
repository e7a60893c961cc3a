"""The job queue: how many sessions a keypair may keep waiting, and session dependencies.

Revision ID: 0004_queue
Revises: 0003_administration
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_queue"
down_revision: str | None = "0003_administration"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("keypair_resource_policies") as batch:
        # Sessions a keypair may keep waiting beyond max_concurrent_sessions (0: none; a create
        # past concurrent + pending is refused at submit).
        batch.add_column(
            sa.Column("max_pending_session_count", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "session_dependencies",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("depends_on", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "depends_on", name=op.f("pk_session_dependencies")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_dependencies_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["depends_on"],
            ["sessions.id"],
            name=op.f("fk_session_dependencies_depends_on_sessions"),
            ondelete="CASCADE",
        ),
        sa.Index(op.f("ix_session_dependencies_depends_on"), "depends_on"),
    )
    with op.batch_alter_table("sessions") as batch:
        # The scheduler reads PENDING sessions in priority and age order.
        batch.create_index(op.f("ix_sessions_pending_order"), ["status", "priority", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index(op.f("ix_sessions_pending_order"))
    op.drop_table("session_dependencies")
    with op.batch_alter_table("keypair_resource_policies") as batch:
        batch.drop_column("max_pending_session_count")
