"""Transfer tokens: what lets an unsigned client upload or download one file, for a while.

The manager authorizes; this process signs what it allowed (JWT, HS256) with a key derived
from the shared storage token, so a client cannot widen its grant (another path, another op,
more bytes) and a token stops working at ``exp``. Deriving the key (rather than signing with
the storage token itself) keeps the manager's credential out of anything a client can hold.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt

from backendai.common.errors import AuthenticationFailed, PermissionDenied

ALGORITHM = "HS256"
Op = Literal["upload", "download"]


@dataclass(frozen=True)
class Grant:
    op: Op
    volume: str
    vfid: uuid.UUID
    path: str
    size: int  # uploads: the whole file's length
    upload_id: str  # uploads: the temp file's name
    quota: int  # uploads: the folder's quota in bytes (0: none), re-checked on every PATCH
    exp: int


class TokenSigner:
    def __init__(self, storage_token: str) -> None:
        self._key = hmac.new(
            storage_token.encode(), b"backendai-storage-transfer", hashlib.sha256
        ).digest()

    def sign(self, grant: Grant) -> str:
        claims = {
            "op": grant.op,
            "volume": grant.volume,
            "vfid": grant.vfid.hex,
            "path": grant.path,
            "size": grant.size,
            "uid": grant.upload_id,
            "quota": grant.quota,
            "exp": grant.exp,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str | None, op: Op) -> Grant:
        """The grant in ``token`` for ``op``; forged or expired: 401, another op's: 403."""
        if not token:
            raise AuthenticationFailed("A transfer needs the token parameter from its ticket.")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "op", "volume", "vfid", "path"]},
            )
            grant = Grant(
                op=claims["op"],
                volume=str(claims["volume"]),
                vfid=uuid.UUID(str(claims["vfid"])),
                path=str(claims["path"]),
                size=int(claims.get("size", 0)),
                upload_id=str(claims.get("uid", "")),
                quota=int(claims.get("quota", 0)),
                exp=int(claims["exp"]),
            )
        except jwt.ExpiredSignatureError as e:
            raise AuthenticationFailed("The transfer token has expired; request a new one.") from e
        except (jwt.InvalidTokenError, ValueError, TypeError, KeyError) as e:
            raise AuthenticationFailed("The transfer token is not valid.") from e
        if grant.op != op:
            raise PermissionDenied(f"This token allows an {grant.op}, not an {op}.")
        return grant


def expiry(seconds: int) -> int:
    return int(time.time()) + seconds
