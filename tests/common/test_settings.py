from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import Field

from backendai.common.errors import ConfigurationError
from backendai.common.settings import ProcessSettings, load_settings


class DemoSettings(ProcessSettings):
    section: ClassVar[str] = "demo"
    port: int = Field(default=8081, ge=0, le=65535)
    host: str = "127.0.0.1"


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text('[demo]\nport = 7000\nhost = "0.0.0.0"\n')
    return path


def test_defaults_without_file_or_env() -> None:
    s = load_settings(DemoSettings)
    assert (s.port, s.host) == (8081, "127.0.0.1")


def test_precedence_override_env_file(toml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(DemoSettings, toml).port == 7000
    monkeypatch.setenv("BACKENDAI_DEMO_PORT", "9000")
    s = load_settings(DemoSettings, toml)
    assert (s.port, s.host) == (9000, "0.0.0.0")
    assert load_settings(DemoSettings, toml, port=1, host=None).port == 1


def test_bad_value_names_the_field_and_how_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKENDAI_DEMO_PORT", "abc")
    with pytest.raises(ConfigurationError) as e:
        load_settings(DemoSettings)
    text = str(e.value)
    assert "demo.port" in text
    assert "'abc'" in text
    assert "BACKENDAI_DEMO_PORT" in text


def test_out_of_range_and_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("[demo]\nport = 70000\nprot = 1\n")
    with pytest.raises(ConfigurationError) as e:
        load_settings(DemoSettings, path)
    text = str(e.value)
    assert "demo.port" in text and "65535" in text
    assert "demo.prot" in text


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(DemoSettings, tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[demo\nport=1")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings(DemoSettings, broken)
