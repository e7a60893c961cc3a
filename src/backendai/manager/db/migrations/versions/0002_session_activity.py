"""Sessions remember their last activity (idle timeout); agents list their images.

Revision ID: 0002_session_activity
Revises: 0001_baseline
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_session_activity"
down_revision: str | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("last_activity", sa.DateTime(timezone=True)))
    with op.batch_alter_table("agents") as batch:
        # Existing agents list nothing until their next heartbeat.
        batch.add_column(sa.Column("images", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("images")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("last_activity")
