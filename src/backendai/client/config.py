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
from dataclasses import dataclass, field, fields
from typing import Any, Literal
from urllib.parse import urlsplit

from backendai import __version__ as _package_version
from backendai.client.exceptions import BackendClientError
from backendai.common.signing import API_VERSION

__all__ = [
    "API_VERSION",
    "CLIENT_VERSION",
    "USER_AGENT",
    "APIConfig",
    "ConfigError",
    "parse_api_version",
]

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


class ConfigError(ValueError):
    """Invalid :class:`APIConfig` values; ``problems`` lists ``(field, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{name}: {message}" for name, message in problems))


def _str_list(value: Any, name: str, problems: list[tuple[str, str]]) -> list[str]:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return list(value)
    problems.append((name, f"must be a list of strings or a comma-separated string: {value!r}"))
    return []


def _non_negative(value: Any, name: str, problems: list[tuple[str, str]]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        problems.append((name, f"must be a number of seconds, not {value!r}"))
        return 0.0
    try:
        number = float(value)
    except ValueError:
        problems.append((name, f"must be a number of seconds, not {value!r}"))
        return 0.0
    if not number >= 0:  # also rejects NaN
        problems.append((name, f"must be 0 or more, not {value!r}"))
    return number


def _text(value: Any, name: str, problems: list[tuple[str, str]]) -> str:
    if not isinstance(value, str):
        problems.append((name, f"must be a string, not {value!r}"))
        return ""
    return value


@dataclass(frozen=True, kw_only=True)
class APIConfig:
    """One immutable set of client settings; build it with :meth:`from_env` or directly.

    Invalid values raise :class:`ConfigError` (a ValueError); assigning to a field raises
    ``dataclasses.FrozenInstanceError``.
    """

    #: API endpoint URLs, tried in order when one cannot be reached (a comma-separated
    #: string is split).
    endpoints: list[str] = field(default_factory=lambda: [DEFAULT_ENDPOINT])
    #: api: sign requests with a keypair; session: login cookie.
    endpoint_type: Literal["api", "session"] = "api"
    #: Keypair access key and secret key (api mode).
    access_key: str = ""
    secret_key: str = ""
    #: Domain and group (project) for new sessions.
    domain: str = "default"
    group: str = "default"
    #: Virtual folders mounted in every new session (a comma-separated string is split).
    vfolder_mounts: list[str] = field(default_factory=list)
    #: Do not verify the server's TLS certificate.
    skip_sslcert_validation: bool = False
    #: Connect timeout and read timeout in seconds (read: 0 = none).
    connection_timeout: float = 10.0
    read_timeout: float = 0.0
    #: The API version this client speaks.
    version: str = API_VERSION
    hash_type: Literal["sha256"] = "sha256"
    user_agent: str = USER_AGENT

    def __post_init__(self) -> None:
        problems: list[tuple[str, str]] = []
        endpoints = _str_list(self.endpoints, "endpoints", problems)
        if not endpoints and not problems:
            problems.append(("endpoints", "at least one endpoint is required"))
        for url in endpoints:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                problems.append(
                    ("endpoints", f"the endpoint must be an absolute http(s) URL: {url!r}")
                )
        values: dict[str, Any] = {
            "endpoints": endpoints,
            "vfolder_mounts": _str_list(self.vfolder_mounts, "vfolder_mounts", problems),
            "connection_timeout": _non_negative(
                self.connection_timeout, "connection_timeout", problems
            ),
            "read_timeout": _non_negative(self.read_timeout, "read_timeout", problems),
        }
        if self.endpoint_type not in ("api", "session"):
            problems.append(
                ("endpoint_type", f"must be 'api' or 'session', not {self.endpoint_type!r}")
            )
        if self.hash_type != "sha256":
            problems.append(("hash_type", f"must be 'sha256', not {self.hash_type!r}"))
        if not isinstance(self.skip_sslcert_validation, bool):
            problems.append(
                (
                    "skip_sslcert_validation",
                    f"must be true or false, not {self.skip_sslcert_validation!r}",
                )
            )
        for name in ("access_key", "secret_key", "domain", "group", "user_agent"):
            _text(getattr(self, name), name, problems)
        try:
            parse_api_version(_text(self.version, "version", problems))
        except ValueError as e:
            problems.append(("version", str(e)))
        if problems:
            raise ConfigError(problems)
        for name, value in values.items():
            object.__setattr__(self, name, value)

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
        unknown = sorted(set(values) - _FIELD_NAMES)
        if unknown:
            raise BackendClientError(
                f"Invalid client configuration: unknown settings: {', '.join(unknown)}"
            )
        try:
            return cls(**values)
        except ConfigError as e:
            problems = "; ".join(
                f"{_ENV_NAMES.get(name, 'config')}: {message}" for name, message in e.problems
            )
            raise BackendClientError(f"Invalid client configuration: {problems}") from e


_FIELD_NAMES = frozenset(f.name for f in fields(APIConfig))

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
