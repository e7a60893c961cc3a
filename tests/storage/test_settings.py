"""Storage settings: defaults shared with the manager, and the volume plugins by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from backendai.common.errors import ConfigurationError
from backendai.common.settings import load_settings
from backendai.manager.settings import ManagerSettings
from backendai.storage.settings import StorageSettings, VolumeSettings
from backendai.storage.volumes import load_volume
from backendai.storage.volumes.vfs import VfsVolume


def test_defaults_share_the_managers_data_dir_and_token(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path}"\nport = 7777\n')
    settings = load_settings(StorageSettings, config)
    assert settings.url == "http://127.0.0.1:7777"
    assert settings.volumes["local"].path == tmp_path / "vfolders" / "local"
    assert settings.volumes["local"].backend == "vfs"
    token = settings.storage_token()
    manager = ManagerSettings(data_dir=tmp_path)
    assert manager.storage_token_file.read_text().strip() == token
    assert (manager.storage_token_file.stat().st_mode & 0o077) == 0


def test_volume_backends_load_by_short_name(tmp_path: Path) -> None:
    volume = load_volume("v", VolumeSettings(path=tmp_path / "v", quota=5), None)
    assert isinstance(volume, VfsVolume)
    assert volume.info().quota_bytes == 5
    with pytest.raises(ConfigurationError, match="unknown backend 'ceph'"):
        load_volume("v", VolumeSettings(backend="ceph", path=tmp_path), None)


def test_bad_settings_name_the_field(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[storage]\nio_workers = 0\n")
    with pytest.raises(ConfigurationError, match=r"storage\.io_workers"):
        load_settings(StorageSettings, config)
