"""Baseline: every table of the manager.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-11-22

Generated with autogenerate against an empty SQLite database, then rewritten by hand. Column
types are the generic ones the models' TypeDecorators store (UTCDateTime is
``DateTime(timezone=True)``, StrEnumType is ``String(32)``) so that this file never imports
model code. Constraint and index names are spelled out (``op.f``) as the models' naming
convention makes them, so they read the same on SQLite and PostgreSQL. No seed data here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_baseline"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Referenced tables before the tables that reference them; downgrade drops in reverse.
TABLES = (
    "domains",
    "group_resource_policies",
    "images",
    "keypair_resource_policies",
    "scaling_groups",
    "user_resource_policies",
    "agents",
    "groups",
    "image_aliases",
    "sgroups_for_domains",
    "users",
    "association_groups_users",
    "keypairs",
    "session_templates",
    "sgroups_for_groups",
    "vfolders",
    "sessions",
    "sgroups_for_keypairs",
    "kernels",
    "session_status_history",
)


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(512)),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total_resource_slots", sa.JSON(), nullable=False),
        sa.Column("allowed_vfolder_hosts", sa.JSON(), nullable=False),
        sa.Column("allowed_docker_registries", sa.JSON(), nullable=False),
        sa.Column("integration_id", sa.String(512)),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_domains")),
    )
    op.create_table(
        "group_resource_policies",
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total_resource_slots", sa.JSON(), nullable=False),
        sa.Column("max_vfolder_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_group_resource_policies")),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("registry", sa.String(256), nullable=False),
        sa.Column("image", sa.String(256), nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("architecture", sa.String(32), nullable=False),
        sa.Column("config_digest", sa.String(128), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("name", "architecture", name=op.f("uq_images_name_architecture")),
        sa.Index(op.f("ix_images_name"), "name"),
    )
    op.create_table(
        "keypair_resource_policies",
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("default_for_unspecified", sa.String(32), nullable=False),
        sa.Column("total_resource_slots", sa.JSON(), nullable=False),
        sa.Column("max_session_lifetime", sa.Integer(), nullable=False),
        sa.Column("max_concurrent_sessions", sa.Integer(), nullable=False),
        sa.Column("max_containers_per_session", sa.Integer(), nullable=False),
        sa.Column("max_vfolder_count", sa.Integer(), nullable=False),
        sa.Column("max_vfolder_size", sa.BigInteger(), nullable=False),
        sa.Column("idle_timeout", sa.Integer(), nullable=False),
        sa.Column("allowed_vfolder_hosts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_keypair_resource_policies")),
    )
    op.create_table(
        "scaling_groups",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(512)),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wsproxy_addr", sa.String(1024)),
        sa.Column("driver", sa.String(64), nullable=False),
        sa.Column("driver_opts", sa.JSON(), nullable=False),
        sa.Column("scheduler", sa.String(64), nullable=False),
        sa.Column("scheduler_opts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scaling_groups")),
    )
    op.create_table(
        "user_resource_policies",
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_vfolder_count", sa.Integer(), nullable=False),
        sa.Column("max_quota_scope_size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_user_resource_policies")),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_changed", sa.DateTime(timezone=True)),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("scaling_group", sa.String(64), nullable=False),
        sa.Column("schedulable", sa.Boolean(), nullable=False),
        sa.Column("available_slots", sa.JSON(), nullable=False),
        sa.Column("occupied_slots", sa.JSON(), nullable=False),
        sa.Column("addr", sa.String(128), nullable=False),
        sa.Column("first_contact", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lost_at", sa.DateTime(timezone=True)),
        sa.Column("last_heartbeat", sa.DateTime(timezone=True)),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("architecture", sa.String(32), nullable=False),
        sa.Column("compute_plugins", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.ForeignKeyConstraint(
            ["scaling_group"],
            ["scaling_groups.name"],
            name=op.f("fk_agents_scaling_group_scaling_groups"),
        ),
        sa.Index(op.f("ix_agents_scaling_group"), "scaling_group"),
        sa.Index(op.f("ix_agents_status"), "status"),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(512)),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("domain_name", sa.String(64), nullable=False),
        sa.Column("total_resource_slots", sa.JSON(), nullable=False),
        sa.Column("allowed_vfolder_hosts", sa.JSON(), nullable=False),
        sa.Column("integration_id", sa.String(512)),
        sa.Column("resource_policy", sa.String(256)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.ForeignKeyConstraint(
            ["domain_name"],
            ["domains.name"],
            name=op.f("fk_groups_domain_name_domains"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_policy"],
            ["group_resource_policies.name"],
            name=op.f("fk_groups_resource_policy_group_resource_policies"),
        ),
        sa.UniqueConstraint("name", "domain_name", name=op.f("uq_groups_name_domain_name")),
        sa.Index(op.f("ix_groups_domain_name"), "domain_name"),
    )
    op.create_table(
        "image_aliases",
        sa.Column("alias", sa.String(256), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_image_aliases")),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_image_aliases_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.Index(op.f("ix_image_aliases_image_id"), "image_id"),
    )
    op.create_table(
        "sgroups_for_domains",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scaling_group", sa.String(64), nullable=False),
        sa.Column("domain", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sgroups_for_domains")),
        sa.ForeignKeyConstraint(
            ["domain"],
            ["domains.name"],
            name=op.f("fk_sgroups_for_domains_domain_domains"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scaling_group"],
            ["scaling_groups.name"],
            name=op.f("fk_sgroups_for_domains_scaling_group_scaling_groups"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "scaling_group", "domain", name=op.f("uq_sgroups_for_domains_scaling_group_domain")
        ),
        sa.Index(op.f("ix_sgroups_for_domains_domain"), "domain"),
        sa.Index(op.f("ix_sgroups_for_domains_scaling_group"), "scaling_group"),
    )
    op.create_table(
        "users",
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("email", sa.String(64), nullable=False),
        sa.Column("password", sa.String(128), nullable=False),
        sa.Column("need_password_change", sa.Boolean(), nullable=False),
        sa.Column("full_name", sa.String(64)),
        sa.Column("description", sa.String(500)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_info", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("domain_name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("resource_policy", sa.String(256), nullable=False),
        sa.Column("integration_id", sa.String(512)),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_users")),
        sa.ForeignKeyConstraint(
            ["domain_name"],
            ["domains.name"],
            name=op.f("fk_users_domain_name_domains"),
            onupdate="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_policy"],
            ["user_resource_policies.name"],
            name=op.f("fk_users_resource_policy_user_resource_policies"),
        ),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
        sa.Index(op.f("ix_users_domain_name"), "domain_name"),
        sa.Index(op.f("ix_users_email"), "email", unique=True),
    )
    op.create_table(
        "association_groups_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_association_groups_users")),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_association_groups_users_group_id_groups"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.uuid"],
            name=op.f("fk_association_groups_users_user_id_users"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "group_id", "user_id", name=op.f("uq_association_groups_users_group_id_user_id")
        ),
        sa.Index(op.f("ix_association_groups_users_group_id"), "group_id"),
        sa.Index(op.f("ix_association_groups_users_user_id"), "user_id"),
    )
    op.create_table(
        "keypairs",
        sa.Column("access_key", sa.String(20), nullable=False),
        sa.Column("secret_key", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("user", sa.Uuid(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used", sa.DateTime(timezone=True)),
        sa.Column("rate_limit", sa.Integer(), nullable=False),
        sa.Column("num_queries", sa.Integer(), nullable=False),
        sa.Column("resource_policy", sa.String(256), nullable=False),
        sa.Column("ssh_public_key", sa.Text()),
        sa.Column("ssh_private_key", sa.Text()),
        sa.PrimaryKeyConstraint("access_key", name=op.f("pk_keypairs")),
        sa.ForeignKeyConstraint(
            ["resource_policy"],
            ["keypair_resource_policies.name"],
            name=op.f("fk_keypairs_resource_policy_keypair_resource_policies"),
        ),
        sa.ForeignKeyConstraint(
            ["user"], ["users.uuid"], name=op.f("fk_keypairs_user_users"), ondelete="CASCADE"
        ),
        sa.Index(op.f("ix_keypairs_is_active"), "is_active"),
        sa.Index(op.f("ix_keypairs_is_admin"), "is_admin"),
        sa.Index(op.f("ix_keypairs_user"), "user"),
        sa.Index(op.f("ix_keypairs_user_id"), "user_id"),
    )
    op.create_table(
        "session_templates",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("domain_name", sa.String(64), nullable=False),
        sa.Column("group_id", sa.Uuid()),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128)),
        sa.Column("template", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_templates")),
        sa.ForeignKeyConstraint(
            ["domain_name"], ["domains.name"], name=op.f("fk_session_templates_domain_name_domains")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_session_templates_group_id_groups")
        ),
        sa.ForeignKeyConstraint(
            ["user_uuid"], ["users.uuid"], name=op.f("fk_session_templates_user_uuid_users")
        ),
        sa.Index(op.f("ix_session_templates_domain_name"), "domain_name"),
        sa.Index(op.f("ix_session_templates_group_id"), "group_id"),
        sa.Index(op.f("ix_session_templates_is_active"), "is_active"),
        sa.Index(op.f("ix_session_templates_user_uuid"), "user_uuid"),
    )
    op.create_table(
        "sgroups_for_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scaling_group", sa.String(64), nullable=False),
        sa.Column("group", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sgroups_for_groups")),
        sa.ForeignKeyConstraint(
            ["group"],
            ["groups.id"],
            name=op.f("fk_sgroups_for_groups_group_groups"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scaling_group"],
            ["scaling_groups.name"],
            name=op.f("fk_sgroups_for_groups_scaling_group_scaling_groups"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "scaling_group", "group", name=op.f("uq_sgroups_for_groups_scaling_group_group")
        ),
        sa.Index(op.f("ix_sgroups_for_groups_group"), "group"),
        sa.Index(op.f("ix_sgroups_for_groups_scaling_group"), "scaling_group"),
    )
    op.create_table(
        "vfolders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("usage_mode", sa.String(32), nullable=False),
        sa.Column("permission", sa.String(32), nullable=False),
        sa.Column("max_files", sa.Integer(), nullable=False),
        sa.Column("max_size", sa.BigInteger(), nullable=False),
        sa.Column("num_files", sa.Integer(), nullable=False),
        sa.Column("cur_size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used", sa.DateTime(timezone=True)),
        sa.Column("creator", sa.String(128)),
        sa.Column("unmanaged_path", sa.String(512)),
        sa.Column("ownership_type", sa.String(32), nullable=False),
        sa.Column("user", sa.Uuid()),
        sa.Column("group", sa.Uuid()),
        sa.Column("cloneable", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vfolders")),
        sa.ForeignKeyConstraint(
            ["group"], ["groups.id"], name=op.f("fk_vfolders_group_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user"], ["users.uuid"], name=op.f("fk_vfolders_user_users"), ondelete="CASCADE"
        ),
        sa.Index(op.f("ix_vfolders_group"), "group"),
        sa.Index(op.f("ix_vfolders_name"), "name"),
        sa.Index(op.f("ix_vfolders_user"), "user"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("tag", sa.String(64)),
        sa.Column("session_type", sa.String(32), nullable=False),
        sa.Column("cluster_mode", sa.String(32), nullable=False),
        sa.Column("cluster_size", sa.Integer(), nullable=False),
        sa.Column("domain_name", sa.String(64), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("user_uuid", sa.Uuid(), nullable=False),
        sa.Column("access_key", sa.String(20), nullable=False),
        sa.Column("scaling_group_name", sa.String(64)),
        sa.Column("image", sa.String(512), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_info", sa.String(256)),
        sa.Column("status_data", sa.JSON(), nullable=False),
        sa.Column("status_changed", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("requested_slots", sa.JSON(), nullable=False),
        sa.Column("occupying_slots", sa.JSON(), nullable=False),
        sa.Column("resource_opts", sa.JSON(), nullable=False),
        sa.Column("environ", sa.JSON(), nullable=False),
        sa.Column("vfolder_mounts", sa.JSON(), nullable=False),
        sa.Column("bootstrap_script", sa.Text()),
        sa.Column("startup_command", sa.Text()),
        sa.Column("starts_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terminated_at", sa.DateTime(timezone=True)),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sa.ForeignKeyConstraint(
            ["access_key"], ["keypairs.access_key"], name=op.f("fk_sessions_access_key_keypairs")
        ),
        sa.ForeignKeyConstraint(
            ["domain_name"], ["domains.name"], name=op.f("fk_sessions_domain_name_domains")
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_sessions_group_id_groups")
        ),
        sa.ForeignKeyConstraint(
            ["scaling_group_name"],
            ["scaling_groups.name"],
            name=op.f("fk_sessions_scaling_group_name_scaling_groups"),
        ),
        sa.ForeignKeyConstraint(
            ["user_uuid"], ["users.uuid"], name=op.f("fk_sessions_user_uuid_users")
        ),
        sa.Index(op.f("ix_sessions_access_key"), "access_key"),
        sa.Index(op.f("ix_sessions_domain_name"), "domain_name"),
        sa.Index(op.f("ix_sessions_group_id"), "group_id"),
        sa.Index(op.f("ix_sessions_name"), "name"),
        sa.Index(op.f("ix_sessions_status"), "status"),
        sa.Index(op.f("ix_sessions_status_changed"), "status_changed"),
        sa.Index(op.f("ix_sessions_user_uuid"), "user_uuid"),
    )
    op.create_table(
        "sgroups_for_keypairs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scaling_group", sa.String(64), nullable=False),
        sa.Column("access_key", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sgroups_for_keypairs")),
        sa.ForeignKeyConstraint(
            ["access_key"],
            ["keypairs.access_key"],
            name=op.f("fk_sgroups_for_keypairs_access_key_keypairs"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scaling_group"],
            ["scaling_groups.name"],
            name=op.f("fk_sgroups_for_keypairs_scaling_group_scaling_groups"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "scaling_group",
            "access_key",
            name=op.f("uq_sgroups_for_keypairs_scaling_group_access_key"),
        ),
        sa.Index(op.f("ix_sgroups_for_keypairs_access_key"), "access_key"),
        sa.Index(op.f("ix_sgroups_for_keypairs_scaling_group"), "scaling_group"),
    )
    op.create_table(
        "kernels",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("cluster_role", sa.String(16), nullable=False),
        sa.Column("cluster_idx", sa.Integer(), nullable=False),
        sa.Column("cluster_hostname", sa.String(64), nullable=False),
        sa.Column("agent", sa.String(64)),
        sa.Column("agent_addr", sa.String(128)),
        sa.Column("container_id", sa.String(64)),
        sa.Column("image", sa.String(512), nullable=False),
        sa.Column("architecture", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_info", sa.String(256)),
        sa.Column("status_data", sa.JSON(), nullable=False),
        sa.Column("status_changed", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_slots", sa.JSON(), nullable=False),
        sa.Column("occupied_slots", sa.JSON(), nullable=False),
        sa.Column("occupied_shares", sa.JSON(), nullable=False),
        sa.Column("attached_devices", sa.JSON(), nullable=False),
        sa.Column("service_ports", sa.JSON(), nullable=False),
        sa.Column("preopen_ports", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terminated_at", sa.DateTime(timezone=True)),
        sa.Column("last_stat", sa.JSON()),
        sa.Column("num_queries", sa.BigInteger(), nullable=False),
        sa.Column("container_log", sa.Text()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kernels")),
        sa.ForeignKeyConstraint(["agent"], ["agents.id"], name=op.f("fk_kernels_agent_agents")),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_kernels_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.Index(op.f("ix_kernels_agent"), "agent"),
        sa.Index(op.f("ix_kernels_session_id"), "session_id"),
        sa.Index(op.f("ix_kernels_status"), "status"),
    )
    op.create_table(
        "session_status_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("kernel_id", sa.Uuid()),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(256)),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_status_history")),
        sa.ForeignKeyConstraint(
            ["kernel_id"],
            ["kernels.id"],
            name=op.f("fk_session_status_history_kernel_id_kernels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_status_history_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.Index(op.f("ix_session_status_history_session_id"), "session_id"),
    )


def downgrade() -> None:
    # Indexes and constraints go with their tables.
    for table in reversed(TABLES):
        op.drop_table(table)
