"""Virtual folders: shares, invitations and the trash.

Revision ID: 0005_vfolders
Revises: 0004_queue
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_vfolders"
down_revision: str | None = "0004_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("vfolders") as batch:
        # When the folder went to the trash (status "trash"); purging removes the row.
        batch.add_column(sa.Column("trashed_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("domain_name", sa.String(64)))
        batch.create_index(op.f("ix_vfolders_status"), ["status"])
    op.create_table(
        "vfolder_permissions",
        sa.Column("vfolder", sa.Uuid(), nullable=False),
        sa.Column("user", sa.Uuid(), nullable=False),
        sa.Column("permission", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("vfolder", "user", name=op.f("pk_vfolder_permissions")),
        sa.ForeignKeyConstraint(
            ["vfolder"], ["vfolders.id"],
            name=op.f("fk_vfolder_permissions_vfolder_vfolders"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user"], ["users.uuid"],
            name=op.f("fk_vfolder_permissions_user_users"), ondelete="CASCADE",
        ),
        sa.Index(op.f("ix_vfolder_permissions_user"), "user"),
    )  # fmt: skip
    op.create_table(
        "vfolder_invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("vfolder", sa.Uuid(), nullable=False),
        sa.Column("inviter", sa.String(128), nullable=False),
        sa.Column("invitee", sa.String(128), nullable=False),
        sa.Column("permission", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vfolder_invitations")),
        sa.ForeignKeyConstraint(
            ["vfolder"], ["vfolders.id"],
            name=op.f("fk_vfolder_invitations_vfolder_vfolders"), ondelete="CASCADE",
        ),
        sa.Index(op.f("ix_vfolder_invitations_invitee"), "invitee"),
        sa.Index(op.f("ix_vfolder_invitations_vfolder"), "vfolder"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("vfolder_invitations")
    op.drop_table("vfolder_permissions")
    with op.batch_alter_table("vfolders") as batch:
        batch.drop_index(op.f("ix_vfolders_status"))
        batch.drop_column("domain_name")
        batch.drop_column("trashed_at")
