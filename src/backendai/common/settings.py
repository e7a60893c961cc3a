"""Loading a process's typed settings from a TOML file and ``BACKENDAI_*`` variables.

Each process defines one ``ProcessSettings`` subclass (``ManagerSettings``, ...). Values come,
highest priority first, from explicit overrides (command-line options), the environment
(``BACKENDAI_<SECTION>_<FIELD>``, nested with ``__``), the process's table in the TOML file
(``[manager]``), and the defaults. A bad value stops the process with one line per field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from backendai.common.errors import ConfigurationError


class ProcessSettings(BaseSettings):
    """Base of every process's settings; ``section`` names its TOML table and env prefix."""

    section: ClassVar[str] = ""
    model_config = SettingsConfigDict(extra="forbid", env_nested_delimiter="__")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings merges file, environment and overrides itself, in that order of
        # precedence, and passes the result as init kwargs.
        return (init_settings,)


S = TypeVar("S", bound=ProcessSettings)


def read_toml_section(path: Path | None, section: str) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with path.open("rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError as e:
        raise ConfigurationError(f"The settings file {path} does not exist.") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError(f"The settings file {path} is not valid TOML: {e}") from e
    table = doc.get(section, {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"[{section}] in {path} must be a table.")
    return table


def describe_validation_error(section: str, error: ValidationError) -> str:
    lines = [f"Invalid {section} settings:"]
    for item in error.errors():
        loc = ".".join(str(p) for p in item["loc"]) or "(root)"
        env = f"BACKENDAI_{section.upper()}_" + "__".join(str(p).upper() for p in item["loc"])
        got = f" (got {item['input']!r})" if "input" in item and item["type"] != "missing" else ""
        lines.append(f"  {section}.{loc}: {item['msg']}{got} [set it in [{section}] or {env}]")
    return "\n".join(lines)


def load_settings(cls: type[S], config_file: Path | None = None, **overrides: Any) -> S:
    """Build ``cls`` from the file, the environment and ``overrides`` (None values ignored)."""
    file_values = read_toml_section(config_file, cls.section)
    given = {k: v for k, v in overrides.items() if v is not None}
    env_values = EnvSettingsSource(
        cls, env_prefix=f"BACKENDAI_{cls.section.upper()}_", env_nested_delimiter="__"
    )()
    try:
        return cls(**(file_values | env_values | given))
    except ValidationError as e:
        raise ConfigurationError(describe_validation_error(cls.section, e)) from e
