"""The manager's settings (``[manager]`` in the TOML file, ``BACKENDAI_MANAGER_*``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, Field, field_validator

from backendai.common.forwarding import ProxyList
from backendai.common.settings import ProcessSettings

AGENT_TOKEN_FILE = "agent-token"
STORAGE_TOKEN_FILE = "storage-token"
APPPROXY_TOKEN_FILE = "appproxy-token"  # common.app_protocol.APPPROXY_TOKEN_FILE


class AppProxyEndpoint(BaseModel):
    """One app proxy (``backendai-server appproxy``) this manager hands routes to."""

    model_config = {"extra": "forbid"}

    id: str = Field(min_length=1, max_length=64, description="The proxy's [appproxy] id.")
    url: str = Field(description="Its control API, as the manager reaches it.")


class ManagerSettings(ProcessSettings):
    section: ClassVar[str] = "manager"

    data_dir: Path = Field(
        default=Path.home() / ".local/share/backendai",
        description="Where the manager keeps its SQLite database and other state.",
    )
    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8081, ge=0, le=65535, description="Port the API listens on.")
    db_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the database: sqlite:///PATH or postgresql://USER:PW@HOST/DB. "
            "Default: SQLite in the data dir."
        ),
    )
    db_busy_timeout: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds a SQLite write waits for another writer before the request is answered "
            "503 with Retry-After (PostgreSQL uses row locks and is not affected)."
        ),
    )
    event_bus: Literal["memory", "redis"] = Field(
        default="memory",
        description=(
            "memory for a single manager; redis (at redis_url) when several managers share "
            "events and wake each other's schedulers."
        ),
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Used with redis.")
    auth_clock_skew: int = Field(
        default=15 * 60, gt=0, description="Seconds a request's Date may differ from ours."
    )
    announcement: str = Field(default="", description="A message shown by every client command.")
    agent_token: str | None = Field(
        default=None,
        min_length=16,
        description=(
            "Shared secret between the manager and its agents (header X-BackendAI-Agent-Token). "
            "Default: a random token created once in the data dir (file agent-token), which "
            "agents on the same machine read."
        ),
    )
    storage_url: str = Field(
        default="http://127.0.0.1:6021",
        description="The storage process's API (virtual folders), as the manager reaches it.",
    )
    storage_token: str | None = Field(
        default=None,
        min_length=16,
        description=(
            "Shared secret between the manager and the storage process (header "
            "X-BackendAI-Storage-Token). Default: the file storage-token in the data dir."
        ),
    )
    appproxies: list[AppProxyEndpoint] = Field(
        default_factory=list,
        description=(
            "The app proxies that serve users' app routes (web terminal, Jupyter, ...) to "
            'browsers: [{id = "main", url = "http://127.0.0.1:6041"}]. A route goes to the '
            "one with the fewest routes that can take it. Empty: apps are reached only through "
            "`backend.ai app`."
        ),
    )
    appproxy_token: str | None = Field(
        default=None,
        min_length=16,
        description=(
            "Shared secret between the manager and its app proxies (header "
            "X-BackendAI-AppProxy-Token). Default: the file appproxy-token in the data dir."
        ),
    )
    agent_lost_timeout: float = Field(
        default=30.0, gt=0, description="Seconds without a heartbeat before an agent is LOST."
    )
    agent_request_timeout: float = Field(
        default=300.0,
        gt=0,
        description="Seconds to wait for an agent's answer (creating a container included).",
    )
    agent_retry_window: float = Field(
        default=60.0,
        ge=0,
        description=(
            "Seconds an agent that does not answer (it may be restarting) is tried again, with "
            "growing pauses, before a kernel create, destroy or restart on it fails for good."
        ),
    )
    shutdown_grace: float = Field(
        default=10.0,
        ge=0,
        description=(
            "Seconds a stopping manager lets launches, terminations and route closings in "
            "flight finish before it cancels them."
        ),
    )
    kernel_vanish_grace: float = Field(
        default=10.0,
        ge=0,
        description=(
            "Seconds after a kernel starts before a heartbeat that lacks its container ends "
            "the session as vanished (a heartbeat may have been taken just before the start)."
        ),
    )
    scheduler_interval: float = Field(
        default=5.0, gt=0, description="Seconds between periodic scheduling passes."
    )
    idle_check_interval: float = Field(
        default=60.0, gt=0, description="Seconds between checks for idle sessions."
    )
    sse_ping_interval: float = Field(
        default=15.0, gt=0, description="Seconds between keep-alive comments on event streams."
    )
    password_workers: int = Field(
        default_factory=lambda: max(1, min(4, (os.cpu_count() or 2) // 2)),
        ge=1,
        description=(
            "Threads that check passwords (bcrypt, about 0.25 s of CPU each), apart from the "
            "event loop. Default: half the CPUs, 1 to 4."
        ),
    )
    password_queue: int = Field(
        default=16,
        ge=0,
        description=(
            "Password checks that may wait for a free thread; logins beyond that are refused "
            "with 429 and Retry-After until the queue drains."
        ),
    )
    login_max_failures_per_user: int = Field(
        default=10,
        gt=0,
        description=(
            "Failed (or still running) /auth/authorize logins for one user name that lock it "
            "for login_lock_seconds. Keep it above the webserver's login_max_failures."
        ),
    )
    login_max_failures_per_address: int = Field(
        default=100,
        gt=0,
        description=(
            "Failed (or still running) /auth/authorize logins from one client address, over "
            "all user names, that lock that address for login_lock_seconds."
        ),
    )
    login_lock_seconds: int = Field(
        default=300,
        gt=0,
        description=(
            "How long a user name or address stays locked; failures are forgotten this long "
            "after the last one."
        ),
    )
    login_trusted_proxies: ProxyList = Field(
        default=["127.0.0.1", "::1"],
        description=(
            "Addresses or networks (10.0.0.0/8) of proxies, such as the webserver, whose "
            "X-Forwarded-For names the real client of /auth/authorize for the per-address "
            "limit. Add the webserver's address when it runs on another host."
        ),
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def agent_token_file(self) -> Path:
        return self.data_dir / AGENT_TOKEN_FILE

    @property
    def storage_token_file(self) -> Path:
        return self.data_dir / STORAGE_TOKEN_FILE

    @property
    def appproxy_token_file(self) -> Path:
        return self.data_dir / APPPROXY_TOKEN_FILE

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'backendai.db'}"
