"""Settings, and ``backendai-server appproxy`` as a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from backendai.appproxy.settings import AppProxySettings, parse_port_range
from backendai.common.app_protocol import APPPROXY_TOKEN_HEADER, PROXY_STATUS
from backendai.common.errors import ConfigurationError
from backendai.common.settings import load_settings
from tests.appproxy.fakes import free_port_range
from tests.fixtures.live import free_port

SERVER = Path(sys.executable).with_name("backendai-server")


def test_port_ranges() -> None:
    assert parse_port_range("10200-10299") == range(10200, 10300)
    assert parse_port_range("7000") == range(7000, 7001)
    for bad in ("10299-10200", "a-b", "0-10", "70000"):
        with pytest.raises(ValueError):
            parse_port_range(bad)


def test_settings_from_file_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "s.toml"
    config.write_text('[appproxy]\nid = "gpu"\nport_range = "11000-11009"\napp_host = "0.0.0.0"\n')
    monkeypatch.setenv("BACKENDAI_APPPROXY_ADVERTISED_HOST", "apps.example.org")
    monkeypatch.setenv("BACKENDAI_APPPROXY_DATA_DIR", str(tmp_path))
    settings = load_settings(AppProxySettings, config)
    assert settings.id == "gpu"
    assert len(settings.ports) == 10
    assert settings.route_url(11003) == "http://apps.example.org:11003/"
    token = settings.appproxy_token()  # the file a manager with this data dir reads
    assert (tmp_path / "appproxy-token").read_text().strip() == token
    monkeypatch.setenv("BACKENDAI_APPPROXY_PORT_RANGE", "nonsense")
    with pytest.raises(ConfigurationError, match="port_range"):
        load_settings(AppProxySettings, config)


def test_the_control_port_may_not_lie_in_the_pool() -> None:
    with pytest.raises(ValueError, match="inside port_range"):
        AppProxySettings(port=10250, port_range="10200-10299")


def test_backendai_server_appproxy_runs_alone(tmp_path: Path) -> None:
    port, pool = free_port(), free_port_range(3)
    token = "process-test-token-0123456789"
    config = tmp_path / "appproxy.toml"
    config.write_text(
        f'[appproxy]\nid = "edge"\nport = {port}\nport_range = "{pool.start}-{pool.stop - 1}"\n'
        f'token = "{token}"\ndata_dir = "{tmp_path}"\n'
    )
    proc = subprocess.Popen(
        [str(SERVER), "appproxy", "-f", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{PROXY_STATUS}", headers={APPPROXY_TOKEN_HEADER: token}
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(request, timeout=2) as resp:
                    status = json.loads(resp.read())
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert status == {"id": "edge", "ports": 3, "routes": 0}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
