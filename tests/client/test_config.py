"""APIConfig from BACKEND_* (and legacy SORNA_*) environment variables."""

from __future__ import annotations

import dataclasses

import pytest

from backendai.client.config import APIConfig, ConfigError, parse_api_version
from backendai.client.exceptions import BackendClientError


def test_defaults() -> None:
    config = APIConfig.from_env({})
    assert config.endpoint == "https://api.backend.ai"
    assert config.endpoint_type == "api"
    assert (config.domain, config.group) == ("default", "default")
    assert config.version == "v6.20210815"
    assert config.hash_type == "sha256"
    assert config.connection_timeout == 10.0
    assert config.read_timeout == 0.0
    assert config.is_anonymous


def test_reads_every_variable() -> None:
    config = APIConfig.from_env(
        {
            "BACKEND_ENDPOINT": "http://a:8081, http://b:8081",
            "BACKEND_ENDPOINT_TYPE": "Session",
            "BACKEND_ACCESS_KEY": "AK",
            "BACKEND_SECRET_KEY": "SK",
            "BACKEND_DOMAIN": "d",
            "BACKEND_GROUP": "g",
            "BACKEND_VFOLDER_MOUNTS": "data,.ssh",
            "BACKEND_SKIP_SSLCERT_VALIDATION": "yes",
            "BACKEND_CONNECTION_TIMEOUT": "2.5",
            "BACKEND_READ_TIMEOUT": "30",
        }
    )
    assert config.endpoints == ["http://a:8081", "http://b:8081"]
    assert config.endpoint == "http://a:8081"
    assert config.endpoint_type == "session"
    assert (config.access_key, config.secret_key) == ("AK", "SK")
    assert (config.domain, config.group) == ("d", "g")
    assert config.vfolder_mounts == ["data", ".ssh"]
    assert config.skip_sslcert_validation is True
    assert (config.connection_timeout, config.read_timeout) == (2.5, 30.0)
    assert not config.is_anonymous


def test_sorna_prefix_is_a_fallback() -> None:
    config = APIConfig.from_env({"SORNA_ACCESS_KEY": "old", "SORNA_DOMAIN": "x"})
    assert config.access_key == "old"
    both = APIConfig.from_env({"SORNA_ACCESS_KEY": "old", "BACKEND_ACCESS_KEY": "new"})
    assert both.access_key == "new"


def test_overrides_win() -> None:
    config = APIConfig.from_env(
        {"BACKEND_SKIP_SSLCERT_VALIDATION": "no"}, skip_sslcert_validation=True, domain=None
    )
    assert config.skip_sslcert_validation is True
    assert config.domain == "default"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BACKEND_ENDPOINT": "localhost:8081"}, "BACKEND_ENDPOINT: the endpoint must be"),
        ({"BACKEND_ENDPOINT_TYPE": "docker"}, "BACKEND_ENDPOINT_TYPE"),
        ({"BACKEND_SKIP_SSLCERT_VALIDATION": "maybe"}, "must be yes or no"),
        ({"BACKEND_CONNECTION_TIMEOUT": "soon"}, "BACKEND_CONNECTION_TIMEOUT"),
    ],
)
def test_invalid_values_give_readable_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(BackendClientError, match=message):
        APIConfig.from_env(env)


def test_config_is_immutable() -> None:
    config = APIConfig.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.domain = "other"  # type: ignore[misc]


def test_parse_api_version() -> None:
    assert parse_api_version("v6.20210815") == (6, "20210815")
    with pytest.raises(ValueError):
        parse_api_version("6.2021")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoints": []}, "endpoints: at least one endpoint"),
        ({"endpoints": ["ftp://x"]}, "endpoints: the endpoint must be"),
        ({"endpoint_type": "docker"}, "endpoint_type: must be 'api' or 'session'"),
        ({"connection_timeout": -1}, "connection_timeout: must be 0 or more"),
        ({"read_timeout": "soon"}, "read_timeout: must be a number"),
        ({"version": "v6"}, "version: not an API version"),
    ],
)
def test_direct_construction_validates(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        APIConfig(**kwargs)  # type: ignore[arg-type]


def test_direct_construction_normalizes() -> None:
    config = APIConfig(
        endpoints="http://a:1, http://b:2",  # type: ignore[arg-type]
        vfolder_mounts="x,y",  # type: ignore[arg-type]
        connection_timeout="2.5",  # type: ignore[arg-type]
    )
    assert config.endpoints == ["http://a:1", "http://b:2"]
    assert config.vfolder_mounts == ["x", "y"]
    assert config.connection_timeout == 2.5
    assert APIConfig() == APIConfig.from_env({})


def test_unknown_override_is_refused() -> None:
    with pytest.raises(BackendClientError, match="unknown settings: colour"):
        APIConfig.from_env({}, colour="red")
