"""Client configuration: where the API is, how to authenticate, and defaults for requests.

Read from ``BACKEND_*`` environment variables (falling back to the legacy ``SORNA_*``
names) like Backend.AI's official client::

    BACKEND_ENDPOINT            API or webserver URL; a comma-separated list fails over in order
    BACKEND_ENDPOINT_TYPE       api (sign with a keypair) | session (webserver login cookie)
    BACKEND_ACCESS_KEY          keypair mode only; empty = anonymous requests
    BACKEND_SECRET_KEY
    BACKEND_DOMAIN              default domain of new sessions          [default]
    BACKEND_GROUP               default group (project) of new sessions [default]
    BACKEND_VFOLDER_MOUNTS      comma-separated vfolders mounted in every new session
    BACKEND_SKIP_SSLCERT_VALIDATION  yes|no
    BACKEND_CONNECTION_TIMEOUT  seconds to connect                      [10]
    BACKEND_READ_TIMEOUT        seconds to wait for data, 0 = forever   [0]

The API version and the signature hash are fixed (``v6.20210815``, ``sha256``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backendai import __version__ as _package_version
from backendai.client.exceptions import BackendClientError
from backendai.common.signing import API_VERSION

__all__ = ["API_VERSION", "CLIENT_VERSION", "USER_AGENT", "APIConfig", "parse_api_version"]

CLIENT_VERSION = _package_version
USER_AGENT = f"Backend.AI Client for Python {CLIENT_VERSION} (backendai)"
ENV_PREFIXES = ("BACKEND_", "SORNA_")
DEFAULT_ENDPOINT = "https://api.backend.ai"

_API_VERSION_RE = re.compile(r"^v(\d+)\.(\d{8})$")
_TRUE = frozenset({"y", "yes", "t", "true", "1", "on"})
_FALSE = frozenset({"n", "no", "f", "false", "0", "off", ""})


def parse_api_version(value: str) -> tuple[int, str]:
    """``"v6.20210815"`` -> ``(6, "20210815")``; ValueError for anything else."""
    match = _API_VERSION_RE.match(value)
    if match is None:
        raise ValueError(f"not an API version string (vN.YYYYMMDD): {value!r}")
    return int(match.group(1)), match.group(2)


def format_api_version(version: tuple[int, str]) -> str:
    return f"v{version[0]}.{version[1]}"


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class APIConfig(BaseModel):
    """One immutable set of client settings; build it with :meth:`from_env` or directly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoints: list[str] = Field(
        default_factory=lambda: [DEFAULT_ENDPOINT],
        min_length=1,
        description="API endpoint URLs, tried in order when one cannot be reached.",
    )
    endpoint_type: Literal["api", "session"] = Field(
        default="api", description="api: sign requests with a keypair; session: login cookie."
    )
    access_key: str = Field(default="", description="Keypair access key (api mode).")
    secret_key: str = Field(default="", description="Keypair secret key (api mode).")
    domain: str = Field(default="default", description="Domain for new sessions.")
    group: str = Field(default="default", description="Group (project) for new sessions.")
    vfolder_mounts: list[str] = Field(
        default_factory=list, description="Virtual folders mounted in every new session."
    )
    skip_sslcert_validation: bool = Field(
        default=False, description="Do not verify the server's TLS certificate."
    )
    connection_timeout: float = Field(default=10.0, ge=0, description="Connect timeout (s).")
    read_timeout: float = Field(default=0.0, ge=0, description="Read timeout (s), 0 = none.")
    version: str = Field(default=API_VERSION, description="The API version this client speaks.")
    hash_type: Literal["sha256"] = "sha256"
    user_agent: str = USER_AGENT

    @field_validator("endpoints", mode="before")
    @classmethod
    def _split_endpoints(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("endpoints")
    @classmethod
    def _check_endpoints(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"the endpoint must be an absolute http(s) URL: {url!r}")
        return value

    @field_validator("vfolder_mounts", mode="before")
    @classmethod
    def _split_mounts(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        parse_api_version(value)
        return value

    @property
    def endpoint(self) -> str:
        """The first (preferred) endpoint."""
        return self.endpoints[0]

    @property
    def is_anonymous(self) -> bool:
        """Keypair mode without an access key: requests go out unsigned."""
        return self.endpoint_type == "api" and not self.access_key

    @property
    def api_version(self) -> tuple[int, str]:
        return parse_api_version(self.version)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> APIConfig:
        """Settings from ``BACKEND_*`` (or ``SORNA_*``) variables; ``overrides`` win.

        Raises BackendClientError with a readable message when a value is invalid.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, key in _ENV_KEYS.items():
            raw = _lookup(env, key)
            if raw is not None:
                values[name] = raw
        if "skip_sslcert_validation" in values:
            values["skip_sslcert_validation"] = _parse_bool(
                "SKIP_SSLCERT_VALIDATION", values["skip_sslcert_validation"]
            )
        if "endpoint_type" in values:
            values["endpoint_type"] = values["endpoint_type"].strip().lower()
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as e:
            problems = "; ".join(
                f"{_ENV_NAMES.get(str(err['loc'][0]) if err['loc'] else '', 'config')}: "
                f"{err['msg'].removeprefix('Value error, ')}"
                for err in e.errors()
            )
            raise BackendClientError(f"Invalid client configuration: {problems}") from e


_ENV_KEYS = {
    "endpoints": "ENDPOINT",
    "endpoint_type": "ENDPOINT_TYPE",
    "access_key": "ACCESS_KEY",
    "secret_key": "SECRET_KEY",
    "domain": "DOMAIN",
    "group": "GROUP",
    "vfolder_mounts": "VFOLDER_MOUNTS",
    "skip_sslcert_validation": "SKIP_SSLCERT_VALIDATION",
    "connection_timeout": "CONNECTION_TIMEOUT",
    "read_timeout": "READ_TIMEOUT",
}
_ENV_NAMES = {name: f"BACKEND_{key}" for name, key in _ENV_KEYS.items()}


def _lookup(env: Mapping[str, str], key: str) -> str | None:
    for prefix in ENV_PREFIXES:
        value = env.get(prefix + key)
        if value is not None:
            return value
    return None


def _parse_bool(key: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BackendClientError(f"BACKEND_{key} must be yes or no, not {raw!r}")
