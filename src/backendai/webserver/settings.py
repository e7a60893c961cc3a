"""The webserver's settings (``[webserver]`` in the TOML file, ``BACKENDAI_WEBSERVER_*``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from backendai.common.forwarding import ProxyList
from backendai.common.settings import ProcessSettings
from backendai.webserver.origins import parse_origin


class WebserverSettings(ProcessSettings):
    section: ClassVar[str] = "webserver"

    host: str = Field(default="127.0.0.1", description="Address the webserver listens on.")
    port: int = Field(default=8090, ge=0, le=65535, description="Port the webserver listens on.")
    manager_url: str = Field(
        default="http://127.0.0.1:8081", description="The manager API that requests go to."
    )
    storage_url: str | None = Field(
        default=None,
        description=(
            "The storage's transfer URL (uploads and downloads of folders), relayed under "
            "/storage/ so that the web UI's browsers need reach only the webserver."
        ),
    )
    domain: str = Field(default="default", description="Domain users log in to.")
    session_cookie: str = Field(default="AIOHTTP_SESSION", description="Login cookie name.")
    session_max_age: int = Field(
        default=24 * 3600, gt=0, description="Seconds a login stays valid without use."
    )
    login_max_failures: int = Field(
        default=5,
        gt=0,
        description=(
            "Failed (or still running) logins for one user name that lock it; a burst of "
            "concurrent attempts gets no further than this many."
        ),
    )
    login_lock_seconds: int = Field(
        default=300, gt=0, description="How long an account stays locked after that."
    )
    trusted_proxies: ProxyList = Field(
        default=[],
        description=(
            "Addresses or networks (10.0.0.0/8) of reverse proxies in front of the webserver. "
            "Only from them are X-Forwarded-Proto/-Host/-For believed: for the Origin check, "
            "the cookie's Secure flag and the client address sent to the manager."
        ),
    )
    allowed_origins: list[str] = Field(
        default=[],
        description=(
            "Origins (scheme://host[:port]) besides the webserver's own whose pages may send "
            "state-changing requests and open WebSockets with a user's login cookie."
        ),
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for origin in v:
            if parse_origin(origin) is None:
                raise ValueError(f"{origin!r} is not an origin like https://ui.example.com:8443")
        return v
