"""``backend.ai app`` / ``apps`` and the SDK's app functions, against the fake manager."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from backendai.client.cli.app import parse_bind
from backendai.client.exceptions import BackendClientError
from backendai.client.func.session_apps import app_url, parse_app_arguments, parse_app_envs
from tests.client.conftest import run_cli
from tests.client.fake_server import FakeBackend, ServerThread, free_port
from tests.client.test_cli_app_fakes import SESSION, CLIProcess, FakeApps, cli_env, pseudo_random
from tests.client.test_cli_app_fakes import start_server as start_fake

AVAILABLE = "is available at:"


@pytest.fixture
def fake(backend: FakeBackend) -> Iterator[tuple[ServerThread, FakeApps]]:
    thread, apps = start_fake(backend)
    yield thread, apps
    thread.stop()


@pytest.fixture
def env(fake: tuple[ServerThread, FakeApps], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    variables = cli_env(fake[0].url)
    for key, value in variables.items():
        if key.startswith("BACKEND_"):
            monkeypatch.setenv(key, value)  # for the in-process runs too
    return variables


@pytest.fixture
def apps(fake: tuple[ServerThread, FakeApps]) -> FakeApps:
    return fake[1]


def serve(env: dict[str, str], *args: str) -> tuple[CLIProcess, int]:
    """``backend.ai app ... -b PORT`` running, and its port."""
    port = free_port()
    proc = CLIProcess(["app", "-b", f"127.0.0.1:{port}", *args], env)
    try:
        proc.wait_for(AVAILABLE)
        proc.wait_for(f"127.0.0.1:{port}")
    except AssertionError:
        proc.kill()
        raise
    return proc, port


def exchange(port: int, payload: bytes) -> bytes:
    """Send ``payload`` while reading the echo, until as many bytes came back."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as sock,
        ThreadPoolExecutor(1) as pool,
    ):
        sent = pool.submit(sock.sendall, payload)
        received = bytearray()
        while len(received) < len(payload):
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += chunk
        sent.result()
    return bytes(received)


def read_all(sock: socket.socket) -> bytes:
    data = bytearray()
    while chunk := sock.recv(1 << 20):
        data += chunk
    return bytes(data)


# -- parsing -----------------------------------------------------------------------------


def test_arguments_are_encoded_as_the_contract_says() -> None:
    lines = ["--foo bar", "--flag", "--multi a 'b c'", "--eq=1", "--rep x", "--rep y"]
    assert parse_app_arguments(lines) == {
        "--foo": "bar", "--flag": None, "--multi": ["a", "b c"], "--eq": "1",
        "--rep": ["x", "y"],
    }  # fmt: skip
    with pytest.raises(BackendClientError):
        parse_app_arguments(["--unclosed 'quote"])
    assert parse_app_envs(["A=1", "B=x=y", "C"]) == {"A": "1", "B": "x=y", "C": ""}
    with pytest.raises(BackendClientError):
        parse_app_envs(["=1"])


def test_bind_and_url() -> None:
    assert parse_bind("9123") == ("127.0.0.1", 9123)
    assert parse_bind("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_bind("[::1]:8080") == ("::1", 8080)
    ttyd = {"name": "ttyd", "protocol": "http"}
    assert app_url(ttyd, "127.0.0.1", 8080) == "http://127.0.0.1:8080"
    assert app_url({"name": "sshd", "protocol": "tcp"}, "127.0.0.1", 9922) == "tcp://127.0.0.1:9922"
    assert app_url(ttyd, "127.0.0.1", 1, "tcp") == "tcp://127.0.0.1:1"
    assert app_url({"protocol": "preopen"}, "::1", 2) == "http://[::1]:2"
    templated = {"protocol": "http", "url_template": "{protocol}://{host}:{port}/lab"}
    assert app_url(templated, "h", 3) == "http://h:3/lab"
    odd = {"protocol": "http", "url_template": "{protocol}://{host}:{port}/{token}"}
    assert app_url(odd, "h", 3) == "http://h:3"


def test_bad_bind_is_a_usage_error(env: dict[str, str]) -> None:
    result = run_cli("app", "-b", "nope:x", SESSION, "ttyd")
    assert result.exit_code == 2
    assert "is not [HOST:]PORT" in result.stderr


# -- app: failures before serving ----------------------------------------------------------


def test_unknown_app_lists_the_apps_and_exits_1(env: dict[str, str]) -> None:
    result = run_cli("app", SESSION, "vscode")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f'\u2718 The app "vscode" is not supported by the session "{SESSION}".\n'
        "  Its apps are: ttyd, sshd, echo, source, sink, broken, jupyter"
    )


def test_unknown_session_exits_1(env: dict[str, str]) -> None:
    result = run_cli("app", "nosuch", "ttyd")
    assert result.exit_code == 1
    assert result.stderr.startswith("\u2718 BackendAPIError: 404 Not Found")


def test_port_in_use_exits_1(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("app", "-b", str(port), SESSION, "ttyd")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"\u2718 Cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in result.stderr


# -- app: serving --------------------------------------------------------------------------


def test_seed_output_and_sigint(env: dict[str, str], apps: FakeApps) -> None:
    proc, port = serve(env, SESSION, "ttyd")
    try:
        assert proc.lines[-2:] == [
            f'\u2219 A local proxy to the application "ttyd" provided by the session "{SESSION}"'
            " is available at:\n",
            f"  http://127.0.0.1:{port}\n",  # (text mode reads "\r\n" as "\n")
        ]
        held = socket.create_connection(("127.0.0.1", port), timeout=10)
        held.sendall(b"ping")
        assert held.recv(4) == b"ping"
        proc.proc.send_signal(signal.SIGINT)
        code, _, stderr = proc.finish()
    finally:
        proc.kill()
    assert code == 0, stderr
    assert 'The local proxy to "ttyd" has terminated.' in stderr
    assert held.recv(10) == b""  # the relayed connection was closed too
    held.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=30)


def test_sigterm_exits_0(env: dict[str, str]) -> None:
    proc, _ = serve(env, SESSION, "sshd")
    try:
        proc.proc.send_signal(signal.SIGTERM)
        code, _, stderr = proc.finish()
    finally:
        proc.kill()
    assert code == 0, stderr


def test_tcp_app_url_and_protocol_option(env: dict[str, str]) -> None:
    proc, port = serve(env, SESSION, "sshd")
    proc.proc.send_signal(signal.SIGINT)
    assert proc.finish()[0] == 0
    assert f"  tcp://127.0.0.1:{port}\n" in proc.lines
    proc, port = serve(env, "-p", "http", SESSION, "sshd")
    proc.proc.send_signal(signal.SIGINT)
    assert proc.finish()[0] == 0
    assert f"  http://127.0.0.1:{port}\n" in proc.lines
    proc, port = serve(env, SESSION, "jupyter")
    proc.proc.send_signal(signal.SIGINT)
    assert proc.finish()[0] == 0
    assert f"  http://127.0.0.1:{port}/tree?x=1\n" in proc.lines


def test_relay_is_byte_exact_both_ways(env: dict[str, str], apps: FakeApps) -> None:
    size = 3 * 2**20 + 12345
    proc, port = serve(env, "-e", f"SIZE={size}", SESSION, "echo")
    try:
        payload = pseudo_random(size, seed=1)
        assert exchange(port, payload) == payload
    finally:
        proc.proc.send_signal(signal.SIGINT)
        proc.finish()
        proc.kill()


def test_downstream_bulk_then_close(env: dict[str, str], apps: FakeApps) -> None:
    size = 4 * 2**20 + 7
    proc, port = serve(env, "-e", f"SIZE={size}", SESSION, "source")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            assert read_all(sock) == pseudo_random(size)  # and the app's close ends it
    finally:
        proc.proc.send_signal(signal.SIGINT)
        proc.finish()
        proc.kill()


def test_sink_receives_every_byte(env: dict[str, str], apps: FakeApps) -> None:
    size = 3 * 2**20
    proc, port = serve(env, "-e", f"SIZE={size}", SESSION, "sink")
    try:
        data = pseudo_random(size, seed=3)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(data)
            assert read_all(sock).decode() == hashlib.sha256(data).hexdigest()
    finally:
        proc.proc.send_signal(signal.SIGINT)
        proc.finish()
        proc.kill()


def test_one_websocket_per_connection_concurrently(env: dict[str, str], apps: FakeApps) -> None:
    proc, port = serve(env, SESSION, "echo")
    try:
        payloads = [pseudo_random(300_000 + i, seed=10 + i) for i in range(8)]
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda p: exchange(port, p), payloads))
        assert results == payloads
        assert apps.opened == 8
        assert apps.peak >= 2  # they were relayed at the same time, not one after another
    finally:
        proc.proc.send_signal(signal.SIGINT)
        proc.finish()
        proc.kill()


def test_arguments_and_envs_on_the_wire(env: dict[str, str], apps: FakeApps) -> None:
    proc, port = serve(
        env, "--arg", "--foo bar", "--arg", "--flag", "--arg", "--many a b",
        "-e", "A=1", "-e", "SIZE=0", SESSION, "echo",
    )  # fmt: skip
    try:
        assert exchange(port, b"hi") == b"hi"
    finally:
        proc.proc.send_signal(signal.SIGINT)
        proc.finish()
        proc.kill()
    query = apps.queries[-1]
    assert query["app"] == "echo"
    assert json.loads(query["arguments"]) == {"--foo": "bar", "--flag": None, "--many": ["a", "b"]}
    assert json.loads(query["envs"]) == {"A": "1", "SIZE": "0"}
    proc, port = serve(env, SESSION, "echo")
    try:
        assert exchange(port, b"x") == b"x"
    finally:
        proc.proc.send_signal(signal.SIGINT)
        proc.finish()
        proc.kill()
    assert set(apps.queries[-1]) == {"app"}  # nothing sent when nothing was given


def test_refused_tunnel_answers_503(env: dict[str, str], apps: FakeApps) -> None:
    apps.refuse = (502, "The app did not start: ttyd: not found")
    proc, port = serve(env, SESSION, "ttyd")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = read_all(sock)
        proc.wait_for("\u2718")
    finally:
        proc.proc.send_signal(signal.SIGINT)
        code, _, stderr = proc.finish()
        proc.kill()
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"WebSocket reply: 502 Bad Gateway" in answer
    # The handshake's refusal carries no problem body through aiohttp: the status must do.
    assert '\u2718 The tunnel to "ttyd" was refused: 502 Bad Gateway' in stderr
    assert code == 0  # one failed tunnel does not end the proxy


def test_abnormal_close_answers_503(env: dict[str, str]) -> None:
    proc, port = serve(env, SESSION, "broken")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            answer = read_all(sock)
        proc.wait_for("\u2718")
    finally:
        proc.proc.send_signal(signal.SIGINT)
        code, _, stderr = proc.finish()
        proc.kill()
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"1011" in answer and b"the app crashed" in answer
    assert "failed: closed with 1011 the app crashed" in stderr
    assert code == 0


# -- apps ----------------------------------------------------------------------------------


def test_apps_table(env: dict[str, str]) -> None:
    result = run_cli("apps", SESSION)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "Name", "Protocol", "Ports", "Allowed", "arguments", "Allowed", "envs", "Running",
    ]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[2:]}
    assert rows["ttyd"].split() == ["ttyd", "http", "7681", "-", "-", "yes"]
    assert rows["echo"].split() == [
        "echo", "tcp", "9000", "--foo", "(str),", "--flag", "SIZE,", "A", "-",
    ]  # fmt: skip
    picked = run_cli("apps", SESSION, "sshd", "ttyd")
    assert [line.split()[0] for line in picked.stdout.splitlines()[2:]] == ["ttyd", "sshd"]
    names = run_cli("apps", "-l", SESSION)
    assert names.stderr == (
        "\u2219 This session provides the following app services: "
        "ttyd, sshd, echo, source, sink, broken, jupyter\n"
    )
    unknown = run_cli("apps", SESSION, "vscode")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("\u2718 The session has no app named vscode.")


# -- SDK: browser routes -------------------------------------------------------------------


def test_sdk_open_list_close_routes(env: dict[str, str], apps: FakeApps) -> None:
    from backendai.client.session import Session

    with Session() as api:
        cs = api.ComputeSession(SESSION)
        opened = cs.open_app("ttyd", open_to_public=True, arguments={"--x": None}, envs={"A": "1"})
        assert (opened.app, opened.port, opened.public) == ("ttyd", 10250, True)
        assert apps.open_bodies[-1] == {
            "open_to_public": True, "preferred_port": None, "arguments": {"--x": None},
            "envs": {"A": "1"},
        }  # fmt: skip
        assert [r.app for r in cs.app_routes()] == ["ttyd"]
        cs.close_app("ttyd")
        assert cs.app_routes() == []
        assert [a["name"] for a in cs.stream_app_info()][:2] == ["ttyd", "sshd"]


def test_help_mentions_every_option() -> None:
    result = run_cli("app", "--help")
    for option in ("-b, --bind", "-p, --protocol", "--arg", "-e, --env"):
        assert option in result.stdout
