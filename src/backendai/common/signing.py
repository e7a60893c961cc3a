"""HMAC-SHA256 request signing as Backend.AI's API v4.20181215+ defines it.

The body is never hashed (the digest of the empty string stands in for it), and the
signing key is derived from the secret key, the UTC date of the request and the host.
Both the SDK (to sign) and the manager (to verify) use these functions.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

API_VERSION = "v6.20210815"
EMPTY_BODY_HASH = hashlib.sha256(b"").hexdigest()
SIGN_METHOD = "HMAC-SHA256"


def string_to_sign(
    method: str,
    rel_url: str,
    date_header: str,
    host: str,
    content_type: str,
    api_version: str,
) -> str:
    """The canonical request text; ``content_type`` is the bare, lower-cased MIME type."""
    return "\n".join(
        [
            method.upper(),
            rel_url,
            date_header,
            f"host:{host}",
            f"content-type:{content_type.lower()}",
            f"x-backendai-version:{api_version}",
            EMPTY_BODY_HASH,
        ]
    )


def signing_key(secret_key: str, date: datetime, host: str) -> bytes:
    """Derive the per-day, per-host key: HMAC(HMAC(secret, yyyymmdd), host)."""
    k1 = hmac.new(secret_key.encode(), date.strftime("%Y%m%d").encode(), hashlib.sha256).digest()
    return hmac.new(k1, host.encode(), hashlib.sha256).digest()


def sign(
    secret_key: str,
    *,
    method: str,
    rel_url: str,
    date: datetime,
    date_header: str,
    host: str,
    content_type: str,
    api_version: str = API_VERSION,
) -> str:
    """The hex signature of one request."""
    text = string_to_sign(method, rel_url, date_header, host, content_type, api_version)
    return hmac.new(signing_key(secret_key, date, host), text.encode(), hashlib.sha256).hexdigest()


def authorization_header(access_key: str, signature: str) -> str:
    return f"BackendAI signMethod={SIGN_METHOD}, credential={access_key}:{signature}"


def parse_authorization(value: str) -> tuple[str, str, str]:
    """Split an ``Authorization`` header into (sign method, access key, signature).

    Raises ValueError with a message that says which part is malformed.
    """
    scheme, _, params = value.strip().partition(" ")
    if scheme != "BackendAI":
        raise ValueError('the Authorization scheme must be "BackendAI"')
    fields: dict[str, str] = {}
    for part in params.split(","):
        key, sep, val = part.strip().partition("=")
        if not sep:
            raise ValueError(f"malformed Authorization parameter: {part.strip()!r}")
        fields[key.strip()] = val.strip()
    method = fields.get("signMethod", "")
    credential = fields.get("credential", "")
    access_key, sep, signature = credential.partition(":")
    if not method or not sep or not access_key or not signature:
        raise ValueError(
            "the Authorization header needs signMethod=HMAC-SHA256 and "
            "credential=ACCESS_KEY:SIGNATURE"
        )
    return method, access_key, signature


def signed_headers(
    access_key: str,
    secret_key: str,
    *,
    method: str,
    rel_url: str,
    host: str,
    content_type: str,
    now: datetime | None = None,
    api_version: str = API_VERSION,
) -> dict[str, str]:
    """The headers that authenticate one request: Date, X-BackendAI-Version, Authorization.

    ``content_type`` is the bare MIME type the server will see (``application/octet-stream``
    for requests without a body header, such as WebSockets and SSE).
    """
    date = now or datetime.now(UTC)
    date_header = date.isoformat()
    signature = sign(
        secret_key,
        method=method,
        rel_url=rel_url,
        date=date,
        date_header=date_header,
        host=host,
        content_type=content_type,
        api_version=api_version,
    )
    return {
        "Date": date_header,
        "X-BackendAI-Version": api_version,
        "Authorization": authorization_header(access_key, signature),
    }
