"""The app proxy's settings (``[appproxy]`` in the TOML file, ``BACKENDAI_APPPROXY_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from backendai.common.app_protocol import ACTIVITY_REPORT_INTERVAL, APPPROXY_TOKEN_FILE
from backendai.common.private import shared_token
from backendai.common.settings import ProcessSettings

DEFAULT_DATA_DIR = Path.home() / ".local/share/backendai"


def parse_port_range(text: str) -> range:
    """``"10200-10299"`` (both ends included) or ``"10200"`` -> the ports as a range."""
    first, _, last = text.partition("-")
    try:
        lo, hi = int(first), int(last or first)
    except ValueError:
        raise ValueError(f"{text!r} is not a port range like 10200-10299") from None
    if not 1 <= lo <= hi <= 65535:
        raise ValueError(f"{text!r} is not a port range within 1-65535")
    return range(lo, hi + 1)


class AppProxySettings(ProcessSettings):
    section: ClassVar[str] = "appproxy"

    id: str = Field(
        default="main",
        min_length=1,
        max_length=64,
        description="This proxy's id, as the manager's appproxies list names it.",
    )
    host: str = Field(default="127.0.0.1", description="Address the control API listens on.")
    port: int = Field(default=6041, ge=0, le=65535, description="Port of the control API.")
    app_host: str = Field(
        default="127.0.0.1",
        description="Address the apps' ports listen on (0.0.0.0: every interface).",
    )
    advertised_host: str | None = Field(
        default=None,
        description="The host name that route URLs carry (what browsers reach). Default: app_host.",
    )
    hidden_cookies: list[str] = Field(
        default=["AIOHTTP_SESSION"],
        description=(
            "Cookies of the platform that no app ever receives (the webserver's login cookie): "
            "browsers send every cookie of a host to every port of it, so a user's app on the "
            "web UI's host would otherwise read the user's login."
        ),
    )
    port_range: str = Field(
        default="10200-10299",
        description="The pool of ports routes are served on, both ends included.",
    )
    manager_url: str | None = Field(
        default=None,
        description=(
            "The manager's API, asked at start for the routes to serve and told of activity. "
            "None: routes come only from PUTs on the control API."
        ),
    )
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="The installation's data dir (the manager's): the appproxy token lives here.",
    )
    token: str | None = Field(
        default=None,
        min_length=16,
        description=(
            "Shared secret with the manager (header X-BackendAI-AppProxy-Token). Default: the "
            "file appproxy-token in the data dir, which a manager on this machine reads."
        ),
    )
    head_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a request head may take to arrive (slow heads are cut off: 408).",
    )
    tunnel_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Seconds to wait for the agent's tunnel (it starts the app if needed).",
    )
    local_agents: dict[str, Path] = Field(
        default_factory=dict,
        description=(
            "Agents on this host: their API address (as the manager knows it, e.g. "
            "http://127.0.0.1:6011) -> their app-handoff.sock. Apps of those agents' sessions "
            "come as handed-over connections (one relay fewer); others through the tunnel."
        ),
    )

    def handoff_for(self, agent_addr: str) -> Path | None:
        return self.local_agents.get(agent_addr.rstrip("/"))

    activity_interval: float = Field(
        default=ACTIVITY_REPORT_INTERVAL,
        ge=0.1,
        description="Seconds between activity reports to the manager (tests shorten it).",
    )

    @field_validator("data_dir")
    @classmethod
    def _resolve(cls, v: Path) -> Path:
        return v.expanduser().absolute()

    @field_validator("port_range")
    @classmethod
    def _valid_range(cls, v: str) -> str:
        parse_port_range(v)
        return v

    @model_validator(mode="after")
    def _control_port_outside_pool(self) -> AppProxySettings:
        if self.port and self.port in self.ports and self.host == self.app_host:
            raise ValueError(f"the control port {self.port} lies inside port_range")
        return self

    @property
    def ports(self) -> range:
        return parse_port_range(self.port_range)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def route_url(self, port: int) -> str:
        return f"http://{self.advertised_host or self.app_host}:{port}/"

    def appproxy_token(self) -> str:
        """The shared secret: set explicitly, or the data dir's file (created on first use)."""
        return self.token or shared_token(self.data_dir / APPPROXY_TOKEN_FILE)
