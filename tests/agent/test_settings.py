"""The agent's settings: required token, defaults, environment."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from backendai.agent.settings import AgentSettings
from backendai.common.errors import ConfigurationError
from backendai.common.settings import load_settings


def test_the_token_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BACKENDAI_AGENT_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match=r"agent\.token"):
        load_settings(AgentSettings)
    with pytest.raises(ConfigurationError, match="at least 16"):
        load_settings(AgentSettings, token="short")


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BACKENDAI_AGENT_TOKEN", "t" * 32)
    monkeypatch.setenv("BACKENDAI_AGENT_DATA_DIR", str(tmp_path / "rel" / ".." / "agent"))
    s = load_settings(AgentSettings)
    assert s.id == f"i-{socket.gethostname()}"
    assert (s.host, s.port, s.addr) == ("127.0.0.1", 6001, "http://127.0.0.1:6001")
    assert (s.uid, s.gid, s.heartbeat_interval, s.backend) == (65000, 65000, 3.0, "docker")
    assert s.data_dir == tmp_path / "agent"
    assert load_settings(AgentSettings, public_addr="http://10.0.0.5:6001").addr == (
        "http://10.0.0.5:6001"
    )
