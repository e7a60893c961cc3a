"""What ``POST /session`` accepts (API_CONTRACT §2.1), checked before anything is written.

Every field is bounded and typed the way Backend.AI's client 20.09 sends it, so that bad input
is a 400 that names the field and says how to fix it, never a session that later fails in
Docker or a 500: a name ends at its last character (no trailing newline), environment names
are what a shell accepts, ports are ones a container may publish, amounts are numbers or sizes
(never booleans), and times are within reach.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from dateutil.parser import isoparse
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from backendai.common.errors import InvalidRequest
from backendai.common.session_wire import WIRE

# `\Z`, not `$`: `$` also matches just before a final newline, which let "name\n" in.
NAME_RE = re.compile(r"(?=.{4,64}\Z)\w[\w.-]*\w\Z")
NAME_RULE = "4-64 characters matching \\w[\\w.-]*\\w"
# What POSIX shells accept as a variable name; anything else cannot be used from the session.
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_ENV_VARS = 256
MAX_ENV_NAME = 256
MAX_ENV_VALUE = 64 * 1024
# Linux refuses to start a process whose environment and arguments pass a few MiB in all.
MAX_ENV_TOTAL = 512 * 1024
# Backend.AI's range for preopen ports: the privileged ports below 1024 are not the user's.
MIN_PORT, MAX_PORT = 1024, 65535
MAX_PREOPEN_PORTS = 16
MAX_RESOURCE_ENTRIES = 16
MAX_MOUNTS = 64
MAX_START_DELAY = timedelta(days=366)
MAX_WAIT_SECONDS = 30 * 86400
MAX_DEPENDENCIES = 64
MAX_PRIORITY = 100
MAX_BATCH = 100  # sessions one request may create (the web UI's Sessions slider)
_DELAY_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _shown(value: Any) -> str:
    """A value as the client wrote it (JSON), cut short."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 64 else text[:64] + "..."


def _not_bool(value: Any) -> Any:
    """JSON ``true`` is not a number: pydantic would take it as 1 (``cpu=true`` -> 1 core)."""
    if isinstance(value, bool):
        raise ValueError(f"{_shown(value)} is not a number; write a number")
    return value


def _amount(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(
            f'{_shown(value)} is not an amount; write a number or a size like "2g" or "512m"'
        )
    return value


def _port(port: int) -> int:
    if not MIN_PORT <= port <= MAX_PORT:
        raise ValueError(
            f"{port} is not a port a session may open; use {MIN_PORT} to {MAX_PORT} (the "
            "ports below 1024 are privileged)"
        )
    return port


Number = Annotated[int, BeforeValidator(_not_bool)]
Amount = Annotated[str | int | float, BeforeValidator(_amount)]
Port = Annotated[int, BeforeValidator(_not_bool), AfterValidator(_port)]
ShortText = Annotated[str, Field(min_length=1, max_length=256)]


class SessionConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    mounts: list[ShortText] = Field(
        default_factory=list, max_length=MAX_MOUNTS, description="vfolder names to mount."
    )
    environ: dict[str, str] = Field(
        default_factory=dict,
        max_length=MAX_ENV_VARS,
        description="Environment variables of the session's processes.",
    )
    resources: dict[str, Amount] = Field(
        default_factory=dict, max_length=MAX_RESOURCE_ENTRIES, description='{"cpu": "2", ...}'
    )
    resource_opts: dict[str, Amount] = Field(default_factory=dict, max_length=MAX_RESOURCE_ENTRIES)
    scaling_group: ShortText | None = Field(default=None, alias=WIRE["scaling_group"])
    mount_map: dict[ShortText, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict, max_length=MAX_MOUNTS
    )
    preopen_ports: list[Port] = Field(default_factory=list, max_length=MAX_PREOPEN_PORTS)

    @field_validator("environ")
    @classmethod
    def _check_environ(cls, environ: dict[str, str]) -> dict[str, str]:
        for name, value in environ.items():
            shown = name if len(name) <= 64 else name[:64] + "..."
            if len(name) > MAX_ENV_NAME or not ENV_NAME_RE.match(name):
                raise ValueError(
                    f"invalid environment variable name {shown!r}: use letters, digits and "
                    f"'_', not starting with a digit (at most {MAX_ENV_NAME} characters)"
                )
            if "\x00" in value:
                raise ValueError(f"the value of {shown} contains a NUL character")
            if len(value) > MAX_ENV_VALUE:
                raise ValueError(
                    f"the value of {shown} is {len(value)} characters long; "
                    f"at most {MAX_ENV_VALUE} are allowed"
                )
        total = sum(len(k) + len(v) + 2 for k, v in environ.items())
        if total > MAX_ENV_TOTAL:
            raise ValueError(
                f"the environment takes {total} characters; at most {MAX_ENV_TOTAL} are allowed"
            )
        return environ

    @field_validator("preopen_ports")
    @classmethod
    def _unique_ports(cls, ports: list[int]) -> list[int]:
        return list(dict.fromkeys(ports))


class CreateSessionRequest(BaseModel):
    """``POST /session`` as Backend.AI's client 20.09 sends it."""

    model_config = ConfigDict(populate_by_name=True)

    # The fields in the order of session_wire.CREATE_KEYS, the keys its aliases.
    tag: str | None = Field(default=None, max_length=64)
    name: str | None = Field(
        default=None,
        max_length=64,
        validation_alias=AliasChoices("name", "clientSessionToken", "sessName"),
    )
    config: SessionConfig = Field(default_factory=SessionConfig)
    cluster_size: Number = Field(default=1, ge=1, alias=WIRE["cluster_size"])
    cluster_mode: Literal["single-node", "multi-node"] = Field(
        default="single-node", alias=WIRE["cluster_mode"]
    )
    starts_at: str | None = Field(default=None, max_length=64)
    bootstrap_script: str | None = Field(default=None, max_length=1024 * 1024)
    owner_access_key: ShortText | None = None
    domain: ShortText | None = None
    group: ShortText | None = None
    type: Literal["interactive", "batch", "INTERACTIVE", "BATCH"] = "interactive"
    enqueue_only: bool = Field(default=False, alias=WIRE["enqueue_only"])
    max_wait_seconds: Number = Field(
        default=0, ge=0, le=MAX_WAIT_SECONDS, alias=WIRE["max_wait_seconds"]
    )
    reuse_if_exists: bool = Field(default=True, alias=WIRE["reuse_if_exists"])
    startup_command: str | None = Field(
        default=None, max_length=64 * 1024, alias=WIRE["startup_command"]
    )
    image: str = Field(min_length=1, max_length=512, validation_alias=AliasChoices("image", "lang"))
    dependencies: list[ShortText] = Field(
        default_factory=list,
        max_length=MAX_DEPENDENCIES,
        description="Sessions (ids or names of the owner's sessions) that must end successfully "
        "before this one starts; if one fails, this one is cancelled.",
    )
    priority: Number = Field(
        default=0,
        ge=-MAX_PRIORITY,
        le=MAX_PRIORITY,
        description="Higher first within the resource group's policy; only admins may set it.",
    )
    count: Number = Field(
        default=1,
        ge=1,
        le=MAX_BATCH,
        description="Create this many identical sessions, NAME-1 to NAME-count, each queued on "
        "its own (all or none); the answer comes once they are queued.",
    )


def validate_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise InvalidRequest(
            f"Invalid session name {name!r}: use 4 to 64 characters of letters, digits, '_', "
            "'-' and '.', starting and ending with a letter, a digit or '_'.",
            data={"name": NAME_RULE},
        )


def parse_starts_at(value: str | None, now: datetime) -> datetime | None:
    """An ISO 8601 moment or a delay like ``30m``, ``2h``, ``1d``, ``1h30m``; at most a year
    ahead."""
    if not value:
        return None
    too_far = InvalidRequest(
        f"Invalid starts_at {value!r}: a session may start at most {MAX_START_DELAY.days} "
        "days from now."
    )
    if re.fullmatch(r"\s*(\d+\s*[smhd]\s*)+", value):
        seconds = 0
        for number, unit in re.findall(r"(\d+)\s*([smhd])", value):
            digits = number.lstrip("0") or "0"
            # More than 12 digits is past any allowed delay (and int() of thousands is slow).
            if len(digits) > 12:
                raise too_far
            seconds += int(digits) * _DELAY_SECONDS[unit]
        if seconds > MAX_START_DELAY.total_seconds():
            raise too_far
        return now + timedelta(seconds=seconds)
    try:
        moment = isoparse(value)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)  # a year-9999 time with an offset may not fit
    except (ValueError, OverflowError) as e:
        raise InvalidRequest(
            f"Invalid starts_at {value!r}: use an ISO 8601 time such as "
            "2030-01-31T09:00:00+00:00, or a delay like 30m, 2h, 1d or 1h30m."
        ) from e
    if moment - now > MAX_START_DELAY:
        raise too_far
    return moment
