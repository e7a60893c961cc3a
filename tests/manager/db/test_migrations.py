"""The migration scripts against empty SQLite and PostgreSQL databases (``db_url``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from backendai.common.statuses import DefaultForUnspecified, UserRole, UserStatus
from backendai.manager.db.engine import create_engine, create_session_factory
from backendai.manager.db.migrate import current_revision, downgrade, head_revision, upgrade
from backendai.manager.db.models import (
    Base,
    Domain,
    Group,
    KeyPair,
    KeyPairResourcePolicy,
    User,
    UserResourcePolicy,
)

MODEL_TABLES = set(Base.metadata.tables)


async def _table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: sa.inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


async def test_upgrade_creates_every_table_and_records_head(db_url: str) -> None:
    assert await current_revision(db_url) is None
    await upgrade(db_url)
    assert await current_revision(db_url) == head_revision() is not None
    assert await _table_names(db_url) == MODEL_TABLES | {"alembic_version"}
    await upgrade(db_url)  # already at head: nothing to do, no error
    assert await current_revision(db_url) == head_revision()


async def test_migrated_schema_matches_the_models(migrated_db: tuple[str, AsyncEngine]) -> None:
    _, engine = migrated_db

    def diff(conn: sa.Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_downgrade_to_base_drops_everything(migrated_db: tuple[str, AsyncEngine]) -> None:
    url, _ = migrated_db
    await downgrade(url, "base")
    assert await current_revision(url) is None
    assert await _table_names(url) == {"alembic_version"}
    await upgrade(url)
    assert await _table_names(url) == MODEL_TABLES | {"alembic_version"}


async def test_failed_migration_leaves_nothing_behind(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_upgrade = alembic_command.upgrade

    def upgrade_then_fail(config: Config, revision: str) -> None:
        real_upgrade(config, revision)
        raise RuntimeError("boom")

    monkeypatch.setattr(alembic_command, "upgrade", upgrade_then_fail)
    with pytest.raises(RuntimeError, match="boom"):
        await upgrade(db_url)
    # Transactional DDL on both engines (SQLite needs the explicit BEGIN in migrate.py).
    assert await _table_names(db_url) == set()


async def test_identity_rows_round_trip(migrated_db: tuple[str, AsyncEngine]) -> None:
    _, engine = migrated_db
    factory = create_session_factory(engine)
    group_id, user_id = uuid.uuid4(), uuid.uuid4()
    kst = timezone(timedelta(hours=9))
    last_used = datetime(2024, 5, 1, 18, 30, 15, 123456, tzinfo=kst)
    async with factory() as session, session.begin():
        session.add_all(
            [
                UserResourcePolicy(name="default"),
                KeyPairResourcePolicy(
                    name="default",
                    default_for_unspecified=DefaultForUnspecified.LIMITED,
                    total_resource_slots={"cpu": "4", "mem": "8589934592"},
                ),
                Domain(
                    name="default",
                    total_resource_slots={"cuda.shares": "2.5"},
                    allowed_vfolder_hosts={"local": ["mount-in-session", "upload-file"]},
                    allowed_docker_registries=["cr.backend.ai"],
                ),
            ]
        )
        # The models declare no relationship(), so the unit of work cannot order the INSERTs
        # by foreign key: referenced rows are flushed first by hand.
        await session.flush()
        session.add_all(
            [
                Group(id=group_id, name="model-store", domain_name="default"),
                User(
                    uuid=user_id,
                    username="admin",
                    email="admin@lablup.com",
                    password="$2b$12$not-a-real-hash",
                    domain_name="default",
                    role=UserRole.SUPERADMIN,
                ),
            ]
        )
        await session.flush()
        session.add(
            KeyPair(
                access_key="AKIAIOSFODNN7EXAMPLE",
                secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                user_id="admin@lablup.com",
                user=user_id,
                is_admin=True,
                last_used=last_used,
            )
        )

    async with factory() as session:
        domain = await session.get_one(Domain, "default")
        group = await session.get_one(Group, group_id)
        user = await session.get_one(User, user_id)
        keypair = await session.get_one(KeyPair, "AKIAIOSFODNN7EXAMPLE")
        policy = await session.get_one(KeyPairResourcePolicy, "default")

    assert domain.allowed_vfolder_hosts == {"local": ["mount-in-session", "upload-file"]}
    assert domain.allowed_docker_registries == ["cr.backend.ai"]
    assert domain.total_resource_slots == {"cuda.shares": "2.5"}
    assert group.id == group_id and isinstance(group.id, uuid.UUID)
    assert group.total_resource_slots == {} and group.resource_policy is None
    assert user.role is UserRole.SUPERADMIN and user.status is UserStatus.ACTIVE
    assert user.resource_policy == "default"
    assert policy.default_for_unspecified is DefaultForUnspecified.LIMITED
    assert policy.total_resource_slots == {"cpu": "4", "mem": "8589934592"}
    assert keypair.user == user_id and keypair.is_admin and keypair.is_active
    # Every timestamp comes back aware, in UTC, and the same instant that went in.
    assert keypair.last_used == last_used and keypair.last_used.tzinfo is UTC
    for stamp in (domain.created_at, group.modified_at, user.created_at, keypair.created_at):
        assert stamp.tzinfo is UTC
        assert abs(datetime.now(UTC) - stamp) < timedelta(minutes=5)

    async with engine.connect() as conn:
        stored = (await conn.execute(sa.text("SELECT role, status FROM users"))).one()
    assert tuple(stored) == ("superadmin", "active")  # enums are stored by value


async def test_foreign_keys_are_enforced(migrated_db: tuple[str, AsyncEngine]) -> None:
    _, engine = migrated_db
    factory = create_session_factory(engine)
    with pytest.raises(IntegrityError):
        async with factory() as session, session.begin():
            session.add(Group(name="orphan", domain_name="no-such-domain"))

    # ON DELETE CASCADE works too (SQLite ignores it unless foreign keys are on).
    async with factory() as session, session.begin():
        session.add(Domain(name="gone"))
        await session.flush()
        session.add(Group(name="g", domain_name="gone"))
    async with factory() as session, session.begin():
        await session.execute(sa.delete(Domain).where(Domain.name == "gone"))
    async with factory() as session:
        assert (await session.scalars(sa.select(Group))).all() == []
