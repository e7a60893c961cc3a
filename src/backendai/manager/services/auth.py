"""Who is calling: keypair signature checks and email/password authorization.

Knows nothing about HTTP: the API edge hands over the request's method, raw path, headers
and host, and gets back a ``Principal`` or a domain error that says what was wrong.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from dateutil.parser import isoparse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common import signing
from backendai.common.errors import AuthenticationFailed, InvalidAuthParameters
from backendai.common.statuses import UserRole, UserStatus
from backendai.manager.db.models import KeyPair, User
from backendai.manager.services.login_throttle import LoginThrottle
from backendai.manager.services.passwords import PasswordPool
from backendai.manager.services.passwords import hash_password as hash_password  # bootstrap's

log = logging.getLogger(__name__)

# The one answer to every refused password login, whatever the reason (no such email, wrong
# password, another domain, an inactive account, no keypair): a different answer would tell a
# stranger which emails exist, or that a password is right.
LOGIN_REFUSED = "The email or password is incorrect."

# API versions whose clients speak the signing scheme and shapes we serve.
SUPPORTED_API_VERSIONS = frozenset(
    {
        "v4.20181215",
        "v4.20190315",
        "v4.20190615",
        "v5.20191215",
        "v6.20200815",
        "v6.20210815",
        "v6.20220315",
        "v7.20230615",
    }
)
_VERSION_RE = re.compile(r"^v\d+\.\d{8}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    access_key: str
    secret_key: str
    is_admin_key: bool
    user_uuid: uuid.UUID
    email: str
    role: UserRole
    domain_name: str
    resource_policy: str


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: str
    raw_path: str
    host: str
    content_type: str
    authorization: str | None
    date: str | None
    api_version: str | None


def _host_variants(host: str) -> list[str]:
    """The Host header and its default-port twin: aiohttp drops ``:80``/``:443`` that the
    client signed (API_CONTRACT §1.4), so accept either spelling."""
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return [host, name] if port in ("80", "443") else [host]
    return [host, f"{host}:80", f"{host}:443"]


class AuthService:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        clock_skew: int,
        passwords: PasswordPool,
        throttle: LoginThrottle,
    ) -> None:
        self._db = db
        self._skew = timedelta(seconds=clock_skew)
        self.passwords = passwords
        self.throttle = throttle

    def close(self) -> None:
        self.passwords.close()

    async def authenticate(self, req: SignedRequest, now: datetime | None = None) -> Principal:
        if not req.authorization:
            raise AuthenticationFailed(
                "This API needs a signed request: send 'Authorization: BackendAI "
                "signMethod=HMAC-SHA256, credential=ACCESS_KEY:SIGNATURE' (or log in through "
                "the webserver)."
            )
        try:
            method, access_key, signature = signing.parse_authorization(req.authorization)
        except ValueError as e:
            raise InvalidAuthParameters(f"Malformed Authorization header: {e}.") from e
        if method != signing.SIGN_METHOD:
            raise InvalidAuthParameters(
                f"Unsupported signMethod {method!r}; only HMAC-SHA256 is accepted."
            )
        version = req.api_version
        if not version or not _VERSION_RE.match(version):
            raise InvalidAuthParameters(
                "Missing or malformed X-BackendAI-Version header (expected e.g. v6.20210815)."
            )
        if version not in SUPPORTED_API_VERSIONS:
            raise InvalidAuthParameters(f"Unsupported API version {version}.")
        date = self._check_date(req.date, now or datetime.now(UTC))
        principal = await self._load_principal(access_key)
        for host in _host_variants(req.host):
            expected = signing.sign(
                principal.secret_key,
                method=req.method,
                rel_url=req.raw_path,
                date=date,
                date_header=req.date or "",
                host=host,
                content_type=req.content_type,
                api_version=version,
            )
            if hmac.compare_digest(expected, signature):
                return principal
        raise AuthenticationFailed(
            "Signature mismatch: check the secret key and that the endpoint URL you signed "
            "(host and path) is the one you called."
        )

    def _check_date(self, raw: str | None, now: datetime) -> datetime:
        if not raw:
            raise InvalidAuthParameters("Missing Date (or X-BackendAI-Date) header.")
        try:
            date = isoparse(raw)
        except ValueError as e:
            raise InvalidAuthParameters(
                f"Unreadable Date header {raw!r}: use ISO 8601, e.g. 2021-09-01T12:34:56+00:00."
            ) from e
        if date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
        if abs(now - date) > self._skew:
            raise InvalidAuthParameters(
                f"Date/time sync error: the request is dated {date.isoformat()} but the server "
                f"time is {now.isoformat()} (allowed skew: "
                f"{int(self._skew.total_seconds() // 60)} min). Fix the client's clock."
            )
        return date

    async def _load_principal(self, access_key: str) -> Principal:
        async with self._db() as db:
            row = (
                await db.execute(
                    sa.select(KeyPair, User)
                    .join(User, User.uuid == KeyPair.user)
                    .where(KeyPair.access_key == access_key)
                )
            ).one_or_none()
        if row is None:
            raise AuthenticationFailed(f"Unknown access key {access_key}.")
        keypair, user = row
        if not keypair.is_active:
            raise AuthenticationFailed(
                f"The access key {access_key} is inactive; ask an admin to activate it."
            )
        if user.status is not UserStatus.ACTIVE:
            raise AuthenticationFailed(f"The owner of {access_key} is {user.status.value}.")
        return _principal(keypair, user)

    async def authorize_password(
        self, domain: str, email: str, password: str, address: str
    ) -> Principal:
        """Check an email and password from a client at ``address``; the main keypair of the
        user is the result. Every refusal is the same ``AuthenticationFailed(LOGIN_REFUSED)``
        after the same bcrypt work; too many attempts are ``LoginLocked``."""
        attempt = self.throttle.begin(email, address)
        try:
            principal = await self._check_login(domain, email, password)
        except (AuthenticationFailed, asyncio.CancelledError):
            # A caller that gave up mid-check counts too: it may have seen enough.
            attempt.fail()
            raise
        except BaseException:
            attempt.release()  # busy or broken, nothing was decided: not the caller's fault
            raise
        attempt.succeed()
        return principal

    async def _check_login(self, domain: str, email: str, password: str) -> Principal:
        async with self._db() as db:
            user = (
                await db.execute(sa.select(User).where(User.email == email))
            ).scalar_one_or_none()
        # Always one bcrypt check, against a dummy hash when there is no such user.
        matches = await self.passwords.check(password, user.password if user else None)
        if user is None or not matches:
            raise AuthenticationFailed(LOGIN_REFUSED)
        if user.domain_name != domain:
            log.info(
                "login refused: %s belongs to domain %s, not %s", email, user.domain_name, domain
            )
            raise AuthenticationFailed(LOGIN_REFUSED)
        if user.status is not UserStatus.ACTIVE:
            log.info("login refused: %s is %s", email, user.status.value)
            raise AuthenticationFailed(LOGIN_REFUSED)
        async with self._db() as db:
            keypair = (
                await db.execute(
                    sa.select(KeyPair)
                    .where(KeyPair.user == user.uuid, KeyPair.is_active.is_(True))
                    .order_by(KeyPair.is_admin.desc(), KeyPair.created_at)
                    .limit(1)
                )
            ).scalar_one_or_none()
        if keypair is None:
            log.info("login refused: %s has no active keypair", email)
            raise AuthenticationFailed(LOGIN_REFUSED)
        return _principal(keypair, user)


def _principal(keypair: KeyPair, user: User) -> Principal:
    return Principal(
        access_key=keypair.access_key,
        secret_key=keypair.secret_key,
        is_admin_key=keypair.is_admin,
        user_uuid=user.uuid,
        email=user.email,
        role=user.role,
        domain_name=user.domain_name,
        resource_policy=keypair.resource_policy,
    )
