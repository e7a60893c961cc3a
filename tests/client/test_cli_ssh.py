"""``backend.ai ssh`` / ``scp`` against the fake manager, with stand-ins for OpenSSH's commands.

The stand-in ``ssh``/``scp`` record their arguments and the key they were given, check that
the key is private, talk through the tunnel to the fake ``sshd`` app (which echoes), and exit
with a code of their own, so every step of the composition is visible here. The real OpenSSH
runs against a real session in tests/compat/test_apps_seed.py.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.conftest import run_cli
from tests.client.fake_server import FakeBackend, ServerThread
from tests.client.test_cli_app_fakes import SESSION, CLIProcess, FakeApps, cli_env
from tests.client.test_cli_app_fakes import start_server as start_fake

KEY = b"-----BEGIN RSA PRIVATE KEY-----\nfake\n-----END RSA PRIVATE KEY-----\n"
STAND_IN = """#!{python}
import json, os, socket, stat, sys
args = sys.argv[1:]
key = args[args.index("-i") + 1]
port = int(args[args.index("-P" if os.path.basename(sys.argv[0]) == "scp" else "-p") + 1])
mode = stat.S_IMODE(os.stat(key).st_mode)
dir_mode = stat.S_IMODE(os.stat(os.path.dirname(key)).st_mode)
record = {{"tool": os.path.basename(sys.argv[0]), "args": args, "key": key, "mode": mode,
          "key_data": open(key).read(), "dir_mode": dir_mode}}
with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
    sock.sendall(b"SSH-2.0-OpenSSH_stand_in\\r\\n")
    record["echo"] = sock.recv(100).decode()
with open(os.environ["STAND_IN_LOG"], "a") as log:
    log.write(json.dumps(record) + "\\n")
print("work")
sys.exit(int(os.environ.get("STAND_IN_EXIT", "0")))
"""


@pytest.fixture
def fake(backend: FakeBackend) -> Iterator[tuple[ServerThread, FakeApps]]:
    thread, apps = start_fake(backend)
    backend.sessions.container_files["id_container"] = KEY
    yield thread, apps
    thread.stop()


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("ssh", "scp"):
        script = folder / tool
        script.write_text(STAND_IN.format(python=sys.executable))
        script.chmod(0o755)
    return folder


@pytest.fixture
def env(fake: tuple[ServerThread, FakeApps], bin_dir: Path, tmp_path: Path) -> dict[str, str]:
    base = cli_env(fake[0].url, STAND_IN_LOG=str(tmp_path / "log.jsonl"))
    return base | {"PATH": f"{bin_dir}:{base['PATH']}"}


def records(env: dict[str, str]) -> list[dict[str, object]]:
    lines = Path(env["STAND_IN_LOG"]).read_text().splitlines()
    return [json.loads(line) for line in lines]


def run(env: dict[str, str], *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    proc = CLIProcess(list(args), env, cwd=cwd)
    try:
        return proc.finish(60)
    finally:
        proc.kill()


def test_ssh_runs_openssh_through_the_tunnel(
    env: dict[str, str], fake: tuple[ServerThread, FakeApps]
) -> None:
    code, stdout, stderr = run(env | {"STAND_IN_EXIT": "7"}, "ssh", "-p", "0", SESSION, "whoami")
    assert (code, stdout) == (7, "work\n"), stderr  # ssh's exit code is ours
    [rec] = records(env)
    args = rec["args"]
    assert isinstance(args, list)
    port = args[args.index("-p") + 1]
    assert args == [
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes", "-o", "AddressFamily=inet",
        "-i", rec["key"], "-p", port, "work@127.0.0.1", "whoami",
    ]  # fmt: skip
    assert rec["echo"] == "SSH-2.0-OpenSSH_stand_in\r\n"  # relayed to the sshd app and back
    assert (rec["mode"], rec["dir_mode"]) == (0o600, 0o700)
    assert rec["key_data"] == KEY.decode()
    assert not Path(str(rec["key"])).exists()  # removed afterwards
    assert not Path(str(rec["key"])).parent.exists()
    assert fake[1].queries[-1] == {"app": "sshd"}
    assert f"running a temporary sshd proxy at localhost:{port} ..." in stderr


def test_ssh_passes_options_and_falls_back_to_a_free_port(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        try:
            taken.bind(("127.0.0.1", 9922))
            taken.listen()
        except OSError:
            pass  # something holds 9922 already: taken either way
        code, _, stderr = run(env, "ssh", SESSION, "-v", "ls", "-la")
    assert code == 0, stderr
    [rec] = records(env)
    args = rec["args"]
    assert isinstance(args, list)
    assert args[-4:] == ["work@127.0.0.1", "-v", "ls", "-la"]
    assert args[args.index("-p") + 1] != "9922"


def test_ssh_explicit_port_in_use_exits_1(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, stderr = run(env, "ssh", "-p", str(port), SESSION, "true")
    assert code == 1
    assert f"\u2718 Cannot listen on 127.0.0.1:{port}" in stderr
    assert not Path(env["STAND_IN_LOG"]).exists()


def test_scp_upload_and_download_syntax(env: dict[str, str]) -> None:
    code, _, stderr = run(env, "scp", "-p", "0", "-r", SESSION, "tmp/", "work@localhost:tmp2/")
    assert code == 0, stderr
    code, _, stderr = run(env, "scp", SESSION, "work@localhost:a.txt", ".", "-q")
    assert code == 0, stderr
    up, down = records(env)
    assert up["tool"] == "scp"
    args = up["args"]
    assert isinstance(args, list)
    assert args[-5:] == ["-P", args[-4], "-r", "tmp/", "work@localhost:tmp2/"]
    assert args[:8] == [
        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes", "-o", "AddressFamily=inet",
    ]  # fmt: skip
    assert down["args"][-3:] == ["work@localhost:a.txt", ".", "-q"]  # type: ignore[index]
    assert up["mode"] == 0o600


def test_missing_openssh_says_so(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for command in (["ssh", SESSION], ["scp", SESSION, "a", "work@localhost:b"]):
        result = run_cli(*command)
        assert result.exit_code == 1
        tool = command[0]
        assert result.stderr.startswith(f'\u2718 OpenSSH\'s "{tool}" command is not installed')


def test_ssh_without_a_key_exits_1(env: dict[str, str], backend: FakeBackend) -> None:
    backend.sessions.container_files.clear()
    code, _, stderr = run(env, "ssh", "-p", "0", SESSION, "true")
    assert code == 1
    assert "\u2718 Failed to download the SSH key from the session:" in stderr
    assert not Path(env["STAND_IN_LOG"]).exists()


def test_ssh_to_a_session_without_sshd(
    env: dict[str, str], fake: tuple[ServerThread, FakeApps]
) -> None:
    fake[1].apps[SESSION] = [a for a in fake[1].apps[SESSION] if a["name"] != "sshd"]
    code, _, stderr = run(env, "ssh", "-p", "0", SESSION, "true")
    assert code == 1
    assert f'\u2718 The app "sshd" is not supported by the session "{SESSION}".' in stderr


def test_help() -> None:
    assert "-p, --port PORT" in run_cli("ssh", "--help").stdout
    scp_help = run_cli("scp", "--help").stdout
    assert "-r, --recursive" in scp_help
    assert "work@localhost:path" in scp_help
