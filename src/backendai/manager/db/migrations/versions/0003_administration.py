"""Administration: the shared configuration, the server error log, dotfiles, resource presets,
and private images (an owner, and the owner's group).

Revision ID: 0003_administration
Revises: 0002_session_activity
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_administration"
down_revision: str | None = "0002_session_activity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "config_entries",
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_config_entries")),
    )
    op.create_table(
        "error_logs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("user", sa.Uuid()),
        sa.Column("is_read", sa.Boolean(), nullable=False),
        sa.Column("is_cleared", sa.Boolean(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("context_lang", sa.String(32), nullable=False),
        sa.Column("context_env", sa.JSON(), nullable=False),
        sa.Column("request_url", sa.String(512)),
        sa.Column("request_status", sa.Integer()),
        sa.Column("traceback", sa.Text()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_error_logs")),
        sa.ForeignKeyConstraint(
            ["user"], ["users.uuid"], name=op.f("fk_error_logs_user_users"), ondelete="SET NULL"
        ),
        sa.Index(op.f("ix_error_logs_created_at"), "created_at"),
        sa.Index(op.f("ix_error_logs_severity"), "severity"),
        sa.Index(op.f("ix_error_logs_user"), "user"),
    )
    op.create_table(
        "dotfiles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(256), nullable=False),
        sa.Column("path", sa.String(256), nullable=False),
        sa.Column("permission", sa.String(4), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dotfiles")),
        sa.UniqueConstraint("scope", "owner", "path", name=op.f("uq_dotfiles_scope_owner_path")),
        sa.Index(op.f("ix_dotfiles_owner"), "owner"),
    )
    op.create_table(
        "resource_presets",
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("resource_slots", sa.JSON(), nullable=False),
        sa.Column("shared_memory", sa.BigInteger()),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_resource_presets")),
    )
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("owner_user", sa.Uuid()))
        batch.add_column(sa.Column("owner_group", sa.Uuid()))
        batch.create_index(op.f("ix_images_owner_user"), ["owner_user"])
        batch.create_index(op.f("ix_images_owner_group"), ["owner_group"])


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_index(op.f("ix_images_owner_group"))
        batch.drop_index(op.f("ix_images_owner_user"))
        batch.drop_column("owner_group")
        batch.drop_column("owner_user")
    for table in ("resource_presets", "dotfiles", "error_logs", "config_entries"):
        op.drop_table(table)
