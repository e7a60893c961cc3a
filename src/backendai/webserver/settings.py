"""The webserver's settings (``[webserver]`` in the TOML file, ``BACKENDAI_WEBSERVER_*``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from backendai.common.settings import ProcessSettings


class WebserverSettings(ProcessSettings):
    section: ClassVar[str] = "webserver"

    host: str = Field(default="127.0.0.1", description="Address the webserver listens on.")
    port: int = Field(default=8090, ge=0, le=65535, description="Port the webserver listens on.")
    manager_url: str = Field(
        default="http://127.0.0.1:8081", description="The manager API that requests go to."
    )
    domain: str = Field(default="default", description="Domain users log in to.")
    session_cookie: str = Field(default="AIOHTTP_SESSION", description="Login cookie name.")
    session_max_age: int = Field(
        default=24 * 3600, gt=0, description="Seconds a login stays valid without use."
    )
    login_max_failures: int = Field(
        default=5, gt=0, description="Failed logins in a row that lock an account."
    )
    login_lock_seconds: int = Field(
        default=300, gt=0, description="How long an account stays locked after that."
    )
