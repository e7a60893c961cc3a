"""First-start data: the default domain, group, policies, resource group and two users.

Idempotent: it only creates what is missing, so every start may call it.
"""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import asdict, dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.statuses import UserRole
from backendai.common.vfolders import VFOLDER_HOST_PERMISSIONS
from backendai.manager.db.models import (
    Base,
    Domain,
    Group,
    GroupMembership,
    GroupResourcePolicy,
    KeyPair,
    KeyPairResourcePolicy,
    ScalingGroup,
    ScalingGroupForDomain,
    User,
    UserResourcePolicy,
)
from backendai.manager.services.auth import hash_password

DEFAULT = "default"


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str
    access_key: str
    secret_key: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def new_access_key() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))


def new_secret_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(40))


async def _ensure(db: AsyncSession, model: type[Base], key: object, **values: object) -> None:
    if await db.get(model, key) is None:
        db.add(model(**values))


async def ensure_defaults(db: AsyncSession) -> uuid.UUID:
    """Create the default policies, domain, group and resource group; return the group id."""
    await _ensure(db, KeyPairResourcePolicy, DEFAULT, name=DEFAULT)
    await _ensure(db, UserResourcePolicy, DEFAULT, name=DEFAULT)
    await _ensure(db, GroupResourcePolicy, DEFAULT, name=DEFAULT)
    await _ensure(
        db,
        Domain,
        DEFAULT,
        name=DEFAULT,
        description="The default domain",
        allowed_vfolder_hosts={"local": list(VFOLDER_HOST_PERMISSIONS)},
    )
    await _ensure(db, ScalingGroup, DEFAULT, name=DEFAULT, description="The default resource group")
    await db.flush()
    link = await db.scalar(
        sa.select(ScalingGroupForDomain).where(
            ScalingGroupForDomain.scaling_group == DEFAULT, ScalingGroupForDomain.domain == DEFAULT
        )
    )
    if link is None:
        db.add(ScalingGroupForDomain(scaling_group=DEFAULT, domain=DEFAULT))
    group_id = await db.scalar(
        sa.select(Group.id).where(Group.name == DEFAULT, Group.domain_name == DEFAULT)
    )
    if group_id is None:
        group = Group(
            name=DEFAULT,
            domain_name=DEFAULT,
            description="The default project",
            resource_policy=DEFAULT,
        )
        db.add(group)
        await db.flush()
        group_id = group.id
    return group_id


async def create_user(
    db: AsyncSession,
    *,
    email: str,
    role: UserRole,
    group_id: uuid.UUID,
    password: str | None = None,
    domain: str = DEFAULT,
) -> Credentials:
    """A user in ``group_id`` with one keypair; admins' keypairs are admin keypairs."""
    password = password or secrets.token_urlsafe(12)
    user = User(
        email=email,
        username=email.split("@")[0],
        password=hash_password(password),
        role=role,
        domain_name=domain,
        full_name=email.split("@")[0],
    )
    db.add(user)
    await db.flush()
    db.add(GroupMembership(group_id=group_id, user_id=user.uuid))
    keypair = KeyPair(
        access_key=new_access_key(),
        secret_key=new_secret_key(),
        user_id=email,
        user=user.uuid,
        is_admin=role in (UserRole.SUPERADMIN, UserRole.ADMIN),
    )
    db.add(keypair)
    await db.flush()
    return Credentials(email, password, keypair.access_key, keypair.secret_key)


@dataclass(frozen=True)
class InitialUsers:
    superadmin: Credentials
    demo: Credentials


async def bootstrap(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    superadmin_email: str = "admin@example.com",
    demo_email: str = "demo@example.com",
) -> InitialUsers | None:
    """Create the defaults; on a database without users also the two users (returned)."""
    async with session_factory() as db, db.begin():
        group_id = await ensure_defaults(db)
        if await db.scalar(sa.select(sa.func.count()).select_from(User)):
            return None
        admin = await create_user(
            db, email=superadmin_email, role=UserRole.SUPERADMIN, group_id=group_id
        )
        demo = await create_user(db, email=demo_email, role=UserRole.USER, group_id=group_id)
        return InitialUsers(admin, demo)
