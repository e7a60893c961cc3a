"""The storage process's settings (``[storage]`` in the TOML file, ``BACKENDAI_STORAGE_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field, field_validator, model_validator

from backendai.common.private import shared_token
from backendai.common.settings import ProcessSettings

STORAGE_TOKEN_FILE = "storage-token"  # the manager reads the same file (storage_token_file)
WORK_UID = 65000  # the session user `work` (images/python/Dockerfile's WORK_UID)
DEFAULT_DATA_DIR = Path.home() / ".local/share/backendai"


class VolumeSettings(BaseModel):
    model_config = {"extra": "forbid"}

    backend: str = Field(default="vfs", description="Volume implementation (entry point name).")
    path: Path = Field(description="The volume's root directory on this host.")
    quota: int = Field(default=0, ge=0, description="Bytes all its folders may hold; 0: none.")
    fsync: bool = Field(
        default=True,
        description=(
            "An upload is on disk before its last PATCH is answered (the file is fsync-ed "
            "before it is renamed into place, its directory after), so a crash never leaves "
            "an empty or partial file under a finished upload's name."
        ),
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().absolute()


class StorageSettings(ProcessSettings):
    section: ClassVar[str] = "storage"

    host: str = Field(default="127.0.0.1", description="Address the storage API listens on.")
    port: int = Field(default=6021, ge=0, le=65535, description="Port it listens on.")
    public_url: str | None = Field(
        default=None,
        description=(
            "Base URL clients reach this process at (put into upload/download tickets). "
            "Default: http://HOST:PORT."
        ),
    )
    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="The installation's data dir (the manager's): the storage token lives here.",
    )
    token: str | None = Field(
        default=None,
        min_length=16,
        description=(
            "Shared secret with the manager (header X-BackendAI-Storage-Token). Default: the "
            "file storage-token in the data dir, which a manager on this machine reads."
        ),
    )
    volumes: dict[str, VolumeSettings] = Field(
        default_factory=dict,
        description=(
            'Volumes by vfolder host name. Default: {local = {path = "DATA_DIR/vfolders/local"}}.'
        ),
    )
    file_uid: int = Field(
        default=WORK_UID, ge=0, description="Owner of new folders and files (when run as root)."
    )
    file_gid: int = Field(default=WORK_UID, ge=0, description="Their group (when run as root).")
    upload_expiry: int = Field(default=86400, gt=0, description="Seconds an upload ticket lives.")
    download_expiry: int = Field(default=3600, gt=0, description="Seconds a download ticket lives.")
    io_workers: int = Field(
        default=8, ge=1, le=64, description="Threads for blocking file work (bounded)."
    )

    @field_validator("data_dir")
    @classmethod
    def _resolve(cls, v: Path) -> Path:
        return v.expanduser().absolute()

    @model_validator(mode="before")
    @classmethod
    def _default_volume(cls, values: Any) -> Any:
        if isinstance(values, dict) and not values.get("volumes"):
            data_dir = Path(values.get("data_dir") or DEFAULT_DATA_DIR).expanduser()
            values = {**values, "volumes": {"local": {"path": data_dir / "vfolders" / "local"}}}
        return values

    @property
    def url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def storage_token(self) -> str:
        """The shared secret: set explicitly, or the data dir's file (created on first use)."""
        return self.token or shared_token(self.data_dir / STORAGE_TOKEN_FILE)
