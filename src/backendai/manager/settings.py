"""The manager's settings (``[manager]`` in the TOML file, ``BACKENDAI_MANAGER_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from backendai.common.settings import ProcessSettings


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
    event_bus: Literal["memory", "redis"] = Field(
        default="memory",
        description="memory for a single manager; redis when several managers share events.",
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Used with redis.")
    auth_clock_skew: int = Field(
        default=15 * 60, gt=0, description="Seconds a request's Date may differ from ours."
    )
    announcement: str = Field(default="", description="A message shown by every client command.")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'backendai.db'}"
