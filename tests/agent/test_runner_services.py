"""Services inside a session (ttyd, sshd, image apps) and connections handed over as descriptors,
on the real runner in a real container (the local python image), spoken to over its socket."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.layout import container_name, kernel_paths
from backendai.agent.main import create_app
from backendai.agent.runner import services
from backendai.agent.settings import AgentSettings
from backendai.common.agent_protocol import MountSpec
from tests.agent.conftest import HEADERS, create_body, make_settings
from tests.agent.test_docker import remove_containers

F = TypeVar("F", bound=Callable[..., Any])


def on_docker(test: F) -> F:
    return cast(F, pytest.mark.slow(pytest.mark.docker(test)))


SH_HTTPD = (
    'echo started >> {home}/httpd-starts; echo "$GREETING" > {home}/httpd-greeting; '
    'sleep 0.3; exec {runtime_path} -m http.server {ports[0]} --bind 127.0.0.1 "$@"'
)
SERVICE_DEFS: dict[str, Any] = {
    # A slow starter (the sleep), so that concurrent starts overlap.
    "httpd": {
        "command": ["sh", "-c", SH_HTTPD, "sh"],
        "url_template": "http://{hostname}:{port}/",
        "allowed_arguments": ["--directory"],
        "allowed_envs": ["GREETING"],
        "default_arguments": {"--directory": "{home}"},
    },
    "broken": {"command": ["sh", "-c", "echo boom-output; echo more-on-stderr >&2; exit 3"]},
    "deaf": {"command": ["sleep", "60"], "start_timeout": 1},
}


@dataclass
class Session:
    socket: Path
    home: Path
    container: str

    def exec(self, *argv: str) -> str:
        done = subprocess.run(
            ["docker", "exec", self.container, *argv], capture_output=True, text=True, check=True
        )
        return done.stdout


async def create_kernel(settings: AgentSettings, defs: Path) -> uuid.UUID:
    mount = MountSpec(
        host_path=str(defs), container_path=services.SERVICE_DEFS, read_only=True
    ).model_dump()
    async with TestClient(TestServer(create_app(settings))) as client:
        resp = await client.post("/v1/kernels", json=create_body(mounts=[mount]), headers=HEADERS)
        assert resp.status == 200, await resp.text()
        return uuid.UUID((await resp.json())["kernel_id"])


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    """One kernel for the module: the agent made it and left (kernels outlive their agent)."""
    data_dir = Path(tempfile.mkdtemp(prefix="bai", dir="/tmp"))
    agent_id = f"test-{uuid.uuid4().hex[:12]}"
    settings = make_settings(data_dir, id=agent_id, backend="docker", cpu=None, mem=None)
    defs = data_dir / "service-defs"
    defs.mkdir()
    for name, definition in SERVICE_DEFS.items():
        (defs / f"{name}.json").write_text(json.dumps(definition))
    (defs / "garbled.json").write_text("{not json")
    try:
        kernel_id = asyncio.run(create_kernel(settings, defs))
        paths = kernel_paths(data_dir, kernel_id)
        yield Session(paths.socket, paths.home, container_name(kernel_id))
    finally:
        asyncio.run(remove_containers(agent_id))
        shutil.rmtree(data_dir, ignore_errors=True)


# --- talking to the runner -----------------------------------------------------------------
def open_link(path: Path) -> socket.socket:
    link = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    link.settimeout(60)
    link.connect(str(path))
    hello = b""
    while not hello.endswith(b"\n"):  # a byte at a time: nothing after it may be swallowed
        hello += link.recv(1)
    assert json.loads(hello)["op"] == "hello"
    return link


def request(path: Path, message: dict[str, Any]) -> dict[str, Any]:
    with open_link(path) as link:
        link.sendall(json.dumps(message).encode() + b"\n")
        return dict(json.loads(link.makefile("rb").readline()))


def start(session: Session, name: str, port: int, **extra: Any) -> dict[str, Any]:
    message = {"op": "start-service", "name": name, "protocol": "http", "ports": [port]}
    return request(session.socket, message | extra)


def stop(session: Session, name: str) -> dict[str, Any]:
    return request(session.socket, {"op": "stop-service", "name": name})


def connect(path: Path, port: int) -> socket.socket:
    """The runner's ``connect``: the reply and the descriptor arrive in one message."""
    with open_link(path) as link:
        link.sendall(json.dumps({"op": "connect", "port": port}).encode() + b"\n")
        data, fds, _, _ = socket.recv_fds(link, 65536, 1)
        if not fds:
            raise ConnectionError(json.loads(data)["message"])
        assert json.loads(data) == {"op": "connected"}
        assert link.recv(1) == b""  # and the runner closed the link
        return socket.socket(fileno=fds[0])


def http_get(path: Path, port: int, target: str = "/") -> str:
    with connect(path, port) as conn:
        conn.settimeout(10)
        conn.sendall(
            f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
        )
        response = b""
        while data := conn.recv(65536):
            response += data
    return response.decode(errors="replace")


def wait_until_closed(path: Path, port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            connect(path, port).close()
        except ConnectionError:
            return
        time.sleep(0.05)
    raise AssertionError(f"port {port} still accepts connections")


def run_code(path: Path, code: str) -> None:
    with open_link(path) as link:
        link.sendall(json.dumps({"op": "run", "mode": "query", "code": code}).encode() + b"\n")
        for line in link.makefile("rb"):
            frame = json.loads(line)
            if frame["status"] == "finished":
                assert frame["exitCode"] == 0, frame
                return


class Bridge:
    """A local TCP port; each connection to it goes through ``connect`` to a port inside."""

    def __init__(self, path: Path, port: int) -> None:
        self.path, self.inner = path, port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    def accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            upstream = connect(self.path, self.inner)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(src, dst), daemon=True).start()

    def close(self) -> None:
        self.closed = True
        self.thread.join()
        self.listener.close()


def pump(src: socket.socket, dst: socket.socket) -> None:
    with suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


# --- ttyd ----------------------------------------------------------------------------------
@on_docker
def test_ttyd_serves_its_page_on_loopback_only(session: Session) -> None:
    answer = start(session, "ttyd", 7681)
    assert answer["op"] == "service-started" and answer["port"] == 7681, answer
    page = http_get(session.socket, 7681)
    assert page.startswith("HTTP/1.1 200")
    assert "<title>ttyd - Terminal</title>" in page
    listening = [
        line.split()[1]
        for table in ("/proc/net/tcp", "/proc/net/tcp6")
        for line in session.exec("cat", table).splitlines()[1:]
        if line.split()[3] == "0A" and line.split()[1].endswith(":1E01")  # LISTEN on 7681
    ]
    assert listening == ["0100007F:1E01"]  # 127.0.0.1 and nothing else, no IPv6 either


async def terminal_output(bridge: Bridge, typed: str, until: str) -> str:
    """Types a line into ttyd's terminal (its WebSocket protocol) and reads until ``until``."""
    seen = ""
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"http://127.0.0.1:{bridge.port}/ws", protocols=("tty",)) as ws,
    ):
        await ws.send_bytes(json.dumps({"AuthToken": "", "columns": 120, "rows": 30}).encode())
        await ws.send_bytes(b"0" + typed.encode() + b"\r")  # "0": input
        async with asyncio.timeout(20):
            while until not in seen:
                message = await ws.receive()
                assert message.type == aiohttp.WSMsgType.BINARY, message
                if message.data[:1] == b"0":  # "0": output
                    seen += message.data[1:].decode(errors="replace")
    return seen


@on_docker
async def test_the_web_terminal_is_a_writable_bash_in_tmux_that_reattaches(
    session: Session,
) -> None:
    start(session, "ttyd", 7681)
    bridge = Bridge(session.socket, 7681)
    try:
        typed = "export MARK=kept-$((6*7)); echo shell=$0 session=$(tmux display -p '#S')"
        seen = await terminal_output(bridge, typed, "session=main")
        assert "shell=-bash session=main" in seen  # a login bash inside tmux's "main"
        # A new connection re-attaches to the same shell: its variables are there.
        seen = await terminal_output(bridge, "echo mark=$MARK", "mark=kept-42")
        assert "mark=kept-42" in seen
    finally:
        bridge.close()


# --- sshd ----------------------------------------------------------------------------------
@on_docker
def test_sshd_answers_with_its_banner_through_a_handed_over_descriptor(session: Session) -> None:
    answer = start(session, "sshd", 2200, protocol="tcp")
    assert answer["op"] == "service-started" and answer["port"] == 2200, answer
    with connect(session.socket, 2200) as conn:
        conn.settimeout(10)
        assert conn.recv(256).startswith(b"SSH-2.0-OpenSSH")
    assert "sshd -D" in session.exec("ps", "-o", "user,args", "-u", "work")
    assert "root" not in session.exec("ps", "-o", "user=", "-C", "sshd")


def ssh_options(bridge: Bridge, key: Path) -> list[str]:
    return [
        "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "ConnectTimeout=20",
    ]  # fmt: skip


def ssh(bridge: Bridge, key: Path, command: str) -> str:
    argv = ["ssh", *ssh_options(bridge, key), "-p", str(bridge.port), "work@127.0.0.1", command]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def ssh_bridge(session: Session) -> Iterator[Bridge]:
    if shutil.which("ssh") is None:
        pytest.skip("needs an ssh client on the host")
    start(session, "sshd", 2200, protocol="tcp")
    bridge = Bridge(session.socket, 2200)
    yield bridge
    bridge.close()


@on_docker
def test_ssh_and_sftp_with_the_session_key(
    session: Session, ssh_bridge: Bridge, tmp_path: Path
) -> None:
    key = tmp_path / "id_container"
    shutil.copy(session.home / "id_container", key)
    key.chmod(0o600)
    # The session file alone lets it in, whatever the owner's .ssh folder holds.
    (session.home / ".ssh" / "authorized_keys").write_text("")
    assert (
        ssh(ssh_bridge, key, "whoami; echo $HOME; echo $SHELL") == "work\n/home/work\n/bin/bash\n"
    )
    (tmp_path / "up.txt").write_text("through sftp\n")
    batch = tmp_path / "batch"
    batch.write_text(f"put {tmp_path}/up.txt up.txt\nget up.txt {tmp_path}/down.txt\n")
    argv = ["sftp", *ssh_options(ssh_bridge, key), "-P", str(ssh_bridge.port), "-b", str(batch)]
    done = subprocess.run(
        [*argv, "work@127.0.0.1"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (session.home / "up.txt").read_text() == "through sftp\n"
    assert (tmp_path / "down.txt").read_text() == "through sftp\n"


@on_docker
def test_ssh_with_a_key_from_the_owners_ssh_folder(
    session: Session, ssh_bridge: Bridge, tmp_path: Path
) -> None:
    key = tmp_path / "own_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    (session.home / ".ssh" / "authorized_keys").write_text((tmp_path / "own_key.pub").read_text())
    assert ssh(ssh_bridge, key, "whoami") == "work\n"


# --- image apps ----------------------------------------------------------------------------
@on_docker
def test_describe_services(session: Session) -> None:
    names = ["ttyd", "sshd", "httpd", "garbled", "nosuch", "../etc/passwd"]
    answer = request(session.socket, {"op": "describe-services", "names": names})
    assert answer["op"] == "services"
    assert set(answer["services"]) == {"ttyd", "sshd", "httpd"}
    assert answer["services"]["httpd"] == {
        "allowed_arguments": ["--directory"],
        "allowed_envs": ["GREETING"],
        "url_template": "http://{hostname}:{port}/",
        "running": False,
    }
    start(session, "ttyd", 7681)
    answer = request(session.socket, {"op": "describe-services", "names": ["ttyd"]})
    assert answer["services"]["ttyd"]["running"] is True
    answer = start(session, "garbled", 8106)  # not described, and starting it says why
    assert answer["status"] == 502 and "garbled.json" in answer["message"]


@on_docker
def test_arguments_and_envs_reach_the_app_and_a_second_start_finds_it_running(
    session: Session,
) -> None:
    stop(session, "httpd")
    (session.home / "served").mkdir(exist_ok=True)
    (session.home / "served" / "only-here.txt").write_text("")
    answer = start(
        session, "httpd", 8101, arguments={"--directory": "served"}, envs={"GREETING": "hi"}
    )
    assert answer == {"op": "service-started", "started": True, "port": 8101}
    assert "only-here.txt" in http_get(session.socket, 8101)
    assert (session.home / "httpd-greeting").read_text() == "hi\n"
    assert start(session, "httpd", 8101)["started"] is False
    assert stop(session, "httpd") == {"op": "service-stopped", "stopped": True}
    with pytest.raises(ConnectionError, match="Nothing accepts connections on port 8101"):
        connect(session.socket, 8101)
    assert stop(session, "httpd") == {"op": "service-stopped", "stopped": False}
    # With no --directory of the user's, the default one ({home}) is served.
    assert start(session, "httpd", 8101)["started"] is True
    assert "httpd-greeting" in http_get(session.socket, 8101)
    stop(session, "httpd")


@on_docker
def test_concurrent_starts_start_one_process(session: Session) -> None:
    stop(session, "httpd")
    (session.home / "httpd-starts").unlink(missing_ok=True)
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: start(session, "httpd", 8102), range(4)))
    assert sorted(a["started"] for a in answers) == [False, False, False, True], answers
    assert (session.home / "httpd-starts").read_text() == "started\n"
    stop(session, "httpd")


@on_docker
def test_a_dead_instance_is_restarted(session: Session) -> None:
    stop(session, "httpd")
    assert start(session, "httpd", 8103)["started"] is True
    session.exec("pkill", "-KILL", "-f", "http.server 8103")
    wait_until_closed(session.socket, 8103)
    assert start(session, "httpd", 8103)["started"] is True
    assert http_get(session.socket, 8103).startswith("HTTP/1.0 200")
    stop(session, "httpd")


@on_docker
def test_an_app_that_exits_fails_with_its_log(session: Session) -> None:
    started = time.monotonic()
    answer = start(session, "broken", 8104)
    assert time.monotonic() - started < 10
    assert answer["op"] == "service-failed" and answer["status"] == 502
    assert "exited (status 3)" in answer["message"]
    assert answer["message"].endswith("boom-output\nmore-on-stderr\n")


@on_docker
def test_an_app_that_never_listens_times_out_and_is_killed(session: Session) -> None:
    started = time.monotonic()
    answer = start(session, "deaf", 8105)
    assert 1 <= time.monotonic() - started < 8
    assert answer["status"] == 502
    assert "did not accept connections within 1 s on port 8105" in answer["message"]
    assert "sleep 60" not in session.exec("ps", "-eo", "args")


@on_docker
def test_arguments_and_envs_not_allowed_are_refused(session: Session) -> None:
    answer = start(session, "httpd", 8107, arguments={"--bind": "0.0.0.0"})
    assert answer["op"] == "service-failed" and answer["status"] == 400
    assert "'--bind'" in answer["message"] and "it accepts: --directory" in answer["message"]
    answer = start(session, "httpd", 8107, envs={"LD_PRELOAD": "/x.so"})
    assert answer["status"] == 400 and "'LD_PRELOAD'" in answer["message"]
    assert "it accepts: GREETING" in answer["message"]
    answer = start(session, "ttyd", 7681, arguments={"-c": "user:pw"})
    assert answer["status"] == 400 and "accepts no arguments" in answer["message"]
    answer = start(session, "httpd", 8107, arguments={"--directory": "a\0b"})
    assert answer["status"] == 400 and "NUL" in answer["message"]
    assert "http.server 8107" not in session.exec("ps", "-eo", "args")


@on_docker
def test_preopen_and_undefined_apps_start_nothing(session: Session) -> None:
    preopen = {"protocol": "preopen"}
    answer = start(session, "myserver", 8108, **preopen)
    assert answer["status"] == 404 and "start your own server" in answer["message"]
    answer = start(session, "tensorboard", 8108)
    assert answer["status"] == 404 and "defines no way to start tensorboard" in answer["message"]
    # The user starts a server there by hand: now both find it running.
    run_code(
        session.socket,
        "import socket, subprocess, time\n"
        "subprocess.Popen(['python3', '-m', 'http.server', '8108', '--bind', '127.0.0.1'],"
        " start_new_session=True)\n"
        "while socket.socket().connect_ex(('127.0.0.1', 8108)): time.sleep(0.02)\n",
    )
    assert start(session, "myserver", 8108, **preopen) == {
        "op": "service-started", "started": False, "port": 8108,
    }  # fmt: skip
    assert start(session, "tensorboard", 8108)["started"] is False
    session.exec("pkill", "-f", "http.server 8108")


@on_docker
def test_service_ops_do_not_wait_for_running_code(session: Session) -> None:
    with open_link(session.socket) as busy:
        code = "import time; time.sleep(30)"
        busy.sendall(json.dumps({"op": "run", "mode": "query", "code": code}).encode() + b"\n")
        time.sleep(0.3)
        began = time.monotonic()
        assert start(session, "ttyd", 7681)["op"] == "service-started"
        assert stop(session, "nothing-like-it")["stopped"] is False
        assert time.monotonic() - began < 10
        busy.sendall(b'{"op": "interrupt"}\n')


@on_docker
def test_connect_to_a_port_where_nothing_listens(session: Session) -> None:
    with pytest.raises(ConnectionError, match="port 8109"):
        connect(session.socket, 8109)
    with pytest.raises(ConnectionError, match="is not a TCP port"):
        connect(session.socket, 70000)


# --- without a container -------------------------------------------------------------------
def test_user_arguments_merge_over_the_defaults() -> None:
    definition = services.parse_definition(
        "app",
        {
            "command": ["app", "--port={ports[0]}", "{runtime_path}", "{home}", "{other}"],
            "allowed_arguments": {"--a": {}, "--flag": {}, "--r": {}},
            "default_arguments": {"--a": "default", "--keep": "{home}/x", "--off": False},
        },
    )
    values = {"runtime_path": "/usr/bin/python3", "home": "/home/work"}
    command = [services.substitute(a, [8080], values) for a in definition.command]
    assert command == ["app", "--port=8080", "/usr/bin/python3", "/home/work", "{other}"]
    user = services.check_arguments(definition, {"--a": "mine", "--flag": None, "--r": ["1", "2"]})
    defaults = {k: services.substitute(v, [], values) if isinstance(v, str) else v
                for k, v in definition.default_arguments.items()}  # fmt: skip
    assert services.option_argv(defaults | user) == [
        "--a", "mine", "--keep", "/home/work/x", "--flag", "--r", "1", "--r", "2",
    ]  # fmt: skip


def test_values_are_bounded() -> None:
    definition = services.Definition("app", ["app"], allowed_arguments=["--a"])
    too_long = "x" * (services.MAX_VALUE_LENGTH + 1)
    for arguments in ({"--a": too_long}, {"--a": ["ok", "a\0"]}, {"--a": ["v"] * 65}):
        with pytest.raises(services.ServiceError) as refused:
            services.check_arguments(definition, arguments)
        assert refused.value.status == 400
    many = {f"--x{i}": None for i in range(services.MAX_ENTRIES + 1)}
    with pytest.raises(services.ServiceError, match="at most 64"):
        services.check_arguments(definition, many)
    with pytest.raises(services.ServiceError, match="ports\\[1\\]"):
        services.substitute("{ports[1]}", [8080], {})
