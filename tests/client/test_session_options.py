"""Option values of ``start``/``run`` refused by the CLI before any request: a malformed
``--preopen`` list and a negative ``--max-wait`` (the ranges the server owns are checked there)."""

from __future__ import annotations

import pytest

from tests.client.conftest import run_cli
from tests.client.fake_server import FakeBackend


@pytest.mark.parametrize(
    ("value", "bad"), [("abc", "'abc'"), ("8000,,8001", "''"), ("8000,80x", "'80x'")]
)
@pytest.mark.parametrize("command", ["start", "run"])
def test_preopen_that_is_not_a_port_list_names_the_bad_item(
    api_mode: str, backend: FakeBackend, command: str, value: str, bad: str
) -> None:
    args = ["-c", "print(1)"] if command == "run" else []
    result = run_cli(command, "-t", "sess1", "--preopen", value, *args, "python")
    assert result.exit_code == 2
    assert f"Invalid value for --preopen: {bad} in '{value}' is not a port number" in (
        result.stderr
    ), result.stderr
    assert not [r for r in backend.requests if r.path == "/session"]


def test_preopen_ports_are_sent_as_numbers(api_mode: str, backend: FakeBackend) -> None:
    result = run_cli("start", "-t", "sess1", "--preopen", "8000, 8001", "python")
    assert result.exit_code == 0, result.stderr
    body = next(r.json() for r in backend.requests if r.path == "/session")
    assert body["config"]["preopen_ports"] == [8000, 8001]


@pytest.mark.parametrize("command", ["start", "run"])
def test_negative_max_wait_is_refused(api_mode: str, backend: FakeBackend, command: str) -> None:
    args = ["-c", "print(1)"] if command == "run" else []
    result = run_cli(command, "-t", "sess1", "--max-wait", "-1", *args, "python")
    assert result.exit_code == 2
    assert "Invalid value for '--max-wait': -1 is not in the range x>=0." in result.stderr
    assert not [r for r in backend.requests if r.path == "/session"]
