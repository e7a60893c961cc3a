"""Seed 000's "Using Interactive Apps" and "SSH into the Compute Session", and seed 001's
"Accessing sessions via native SSH/SFTP", end to end on a live platform with both CLIs (the
official 20.9.9 client and ours): the app list at ``start``, ``app`` relaying a browser to ttyd
and OpenSSH/SFTP to sshd, and the ``ssh``/``scp`` commands. Real OpenSSH client tools are used
(package openssh-client). Each test names its sessions after itself and removes them.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from backendai.client.exceptions import BackendAPIError
from tests.compat.conftest import OFFICIAL, OURS, Runner, api_env
from tests.compat.test_vfolder_seed import fresh_user
from tests.fixtures.live import LiveServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.compat, pytest.mark.docker]

SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is missing (apt-get install openssh-client)")
    return path


@pytest.fixture
def exe(request: pytest.FixtureRequest, cli: Runner) -> Path:
    """The executable that ``cli`` runs (for the commands that must run in the background)."""
    return OFFICIAL if request.node.callspec.params["cli"] == "official" else OURS


@pytest.fixture
def home(tmp_path: Path, cli: Runner) -> Path:
    """The HOME that the ``cli`` fixture gives its commands (it made the directory)."""
    path = tmp_path / "home"
    (path / ".ssh").mkdir(mode=0o700, exist_ok=True)  # the official ssh moves its key there
    return path


def child_env(env: dict[str, str], home: Path, exe: Path) -> dict[str, str]:
    # The official ssh/scp run "backend.ai" from PATH: it must be the one under test.
    return {
        "PATH": f"{exe.parent}:{os.environ['PATH']}", "HOME": str(home), "LANG": "C.UTF-8",
        "XDG_STATE_HOME": str(home / ".local/state"), "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    } | env  # fmt: skip


def default_sigint() -> None:
    """In the child: Ctrl-C's default again. A suite started in the background of a
    non-interactive shell (``make test &``) ignores SIGINT, children inherit that, and Python
    then never raises KeyboardInterrupt: 20.9.9's ``app``, which stops only by it, would run on
    after its ``ssh``/``scp`` parent signalled it, and that parent would wait forever."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class AppProxy:
    """``backend.ai app SESSION APP -b PORT`` in the background, until stop()."""

    def __init__(self, exe: Path, env: dict[str, str], session: str, app: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(exe), "app", session, app, "-b", f"127.0.0.1:{self.port}"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint,
        )  # fmt: skip
        self.output: list[str] = []
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # both CLIs print the URL once they listen
            self.output.append(line)
            if f"127.0.0.1:{self.port}" in line:
                return
        raise AssertionError(f"app ended ({self.proc.wait()}): {''.join(self.output)}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


@pytest.fixture
def session(cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A running ``python`` session of the demo user, named for this test."""
    name = unique(request.node.callspec.params["cli"][:3] + "app")
    r = cli("start", "-t", name, "python", env=api_env(live_server))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        yield name
    finally:
        cli("rm", name, env=api_env(live_server))


def download_key(cli: Runner, env: dict[str, str], session: str, where: Path) -> Path:
    key = where / "id_container"
    for _ in range(40):  # the key is made in the background as the container starts
        r = cli("download", session, "id_container", env=env, cwd=where)
        if key.exists():
            break
        time.sleep(0.25)
    assert key.exists(), r.stdout + r.stderr
    key.chmod(0o600)  # as "mv id_container ~/.ssh" keeps it private on a user's machine
    return key


def test_start_lists_the_apps(cli: Runner, live_server: LiveServer) -> None:
    env = api_env(live_server)
    name = unique("apps")
    r = cli("start", "-t", name, "python", env=env)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        line = next(
            (x for x in r.stderr.splitlines() if "provides the following app services" in x), ""
        )
        assert line.startswith("\u2219 This session provides the following app services: "), (
            r.stderr
        )
        listed = line.split(": ", 1)[1].strip().split(", ")
        assert {"ttyd", "sshd"} <= set(listed), listed
    finally:
        cli("rm", name, env=env)


def test_app_ttyd_serves_its_page(
    cli: Runner, exe: Path, home: Path, live_server: LiveServer, session: str
) -> None:
    proxy = AppProxy(exe, child_env(api_env(live_server), home, exe), session, "ttyd")
    try:
        url = f"http://127.0.0.1:{proxy.port}/"
        with urllib.request.urlopen(url, timeout=60) as resp:
            assert resp.status == 200
            page = resp.read().decode(errors="replace").lower()
        assert "<html" in page and "ttyd" in page, page[:500]
    finally:
        code = proxy.stop()
    if exe == OURS:  # 20.9.9 dies of the SIGINT itself (-2); ours ends cleanly
        assert code == 0, "".join(proxy.output)


def test_seed_ssh_and_sftp_through_app_sshd(
    cli: Runner, exe: Path, home: Path, live_server: LiveServer, session: str, tmp_path: Path
) -> None:
    ssh, sftp = need("ssh"), need("sftp")
    env = api_env(live_server)
    key = download_key(cli, env, session, tmp_path)
    proxy = AppProxy(exe, child_env(env, home, exe), session, "sshd")
    try:
        base = [*SSH_OPTS, "-i", str(key)]
        r = subprocess.run(
            [ssh, *base, "-p", str(proxy.port), "work@127.0.0.1", "whoami"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert (r.returncode, r.stdout) == (0, "work\n"), r.stderr
        payload = os.urandom(2**20)
        (tmp_path / "up.bin").write_bytes(payload)
        batch = tmp_path / "batch"
        batch.write_text(f"put {tmp_path / 'up.bin'} up.bin\nget up.bin {tmp_path / 'down.bin'}\n")
        r = subprocess.run(
            [sftp, *base, "-P", str(proxy.port), "-b", str(batch), "work@127.0.0.1"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        digest = hashlib.sha256(payload).hexdigest()
        assert hashlib.sha256((tmp_path / "down.bin").read_bytes()).hexdigest() == digest
        r = subprocess.run(
            [ssh, *base, "-p", str(proxy.port), "work@127.0.0.1", "sha256sum up.bin"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert r.stdout.split()[:1] == [digest], r.stderr
    finally:
        code = proxy.stop()
    if exe == OURS:  # 20.9.9 dies of the SIGINT itself (-2); ours ends cleanly
        assert code == 0, "".join(proxy.output)


def test_ssh_and_scp_commands(
    cli: Runner,
    exe: Path,
    home: Path,
    live_server: LiveServer,
    session: str,
    tmp_path: Path,
) -> None:
    need("ssh")
    need("scp")
    env = child_env(api_env(live_server), home, exe)
    port = str(free_port())

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        # A group of its own: on a timeout the "app" child that 20.9.9's ssh/scp starts goes
        # too (killing the command alone would leave it running).
        proc = subprocess.Popen(
            [str(exe), *args], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=default_sigint,
        )  # fmt: skip
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    r = run("ssh", "-p", port, session, "whoami")
    assert (r.returncode, r.stdout.strip()) == (0, "work"), r.stdout + r.stderr
    payload = os.urandom(2**20 + 3)
    (tmp_path / "local.bin").write_bytes(payload)
    r = run("scp", "-p", port, session, "local.bin", "work@localhost:remote.bin")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run("scp", "-p", port, session, "work@localhost:remote.bin", "back.bin")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "back.bin").read_bytes() == payload
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "f.txt").write_text("deep\n")
    r = run("scp", "-p", port, "-r", session, "tree", "work@localhost:tree2")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run("ssh", "-p", port, session, "cat tree2/sub/f.txt")
    assert r.stdout.strip() == "deep", r.stdout + r.stderr
    r = run("ssh", "-p", port, session, "exit 3")
    assert r.returncode == 3  # ssh's exit code comes through
    leftovers = [p for p in (home / ".ssh").iterdir() if p.name.startswith("id_")]
    assert leftovers == []  # the official client's key is removed too


def test_another_user_cannot_reach_the_apps(
    cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    """Refused, and the answer is the same as for a session that does not exist."""
    if request.node.callspec.params["cli"] == "official":
        pytest.skip("a wire-level check through our SDK; one run is enough")
    owner = api_env(live_server)
    name = unique("mine")
    r = cli("start", "-t", name, "python", env=owner)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        stranger = fresh_user(cli, live_server)
        answers = asyncio.run(_probe(stranger, [name, unique("nosuch")]))
        assert answers[0] == answers[1], answers
        assert all(status == 404 for status, _ in answers), answers
        r = cli("app", name, "ttyd", env=stranger, timeout=30)
        assert r.returncode == 1 and "404" in r.stderr, r.stderr
        r = cli("ssh", name, "whoami", env=stranger, timeout=30)
        assert r.returncode == 1 and "work" not in r.stdout, r.stdout + r.stderr
    finally:
        cli("rm", name, env=owner)


async def _probe(env: dict[str, str], names: list[str]) -> list[tuple[int, str]]:
    """(status, title) of the app list and of a tcpproxy handshake, for each session name."""
    from backendai.client.config import APIConfig
    from backendai.client.session import AsyncSession

    answers = []
    async with AsyncSession(config=APIConfig.from_env(env)) as api:
        for name in names:
            cs = api.ComputeSession(name)
            try:
                await cs.stream_app_info()
                answers.append((200, "listed"))
                continue
            except BackendAPIError as e:
                listed = (e.status, str(e.data.get("title")).replace(name, "NAME"))
            try:
                async with cs.open_tcpproxy("ttyd"):
                    answers.append((101, "tunnel opened"))
                    continue
            except BackendAPIError as e:
                assert e.status == listed[0], (e.status, listed)
            answers.append(listed)
    return answers
