"""Seed 000's "Data Storage Folder" and seed 001's ``.ssh`` folder, end to end with both CLIs
(the official 20.9.9 client and ours) on a live platform: manager, storage and agent mounts.

Every test works as a fresh user (made by the superadmin), so the two CLIs never collide and
the first ``vfolder list`` really is empty; what a test makes it removes.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from pathlib import Path

import pytest

from tests.compat.conftest import Runner, api_env, session_env
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.compat]

MAIN_PY = 'print("hello")\n'


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def which(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["cli"])


def fresh_user(cli: Runner, server: LiveServer) -> dict[str, str]:
    su = api_env(server, "superadmin")
    email = f"{unique('vf')}@example.com"
    r = cli("admin", "users", "add", "default", email, "PASS-word-1", env=su)
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli("admin", "keypairs", "add", email, "default", env=su)
    assert r.returncode == 0, r.stdout + r.stderr
    access = re.search(r"^Access Key: (\S+)$", r.stdout, re.M)
    secret = re.search(r"^Secret Key: (\S+)$", r.stdout, re.M)
    assert access and secret, r.stdout
    return {
        "BACKEND_ENDPOINT_TYPE": "api",
        "BACKEND_ENDPOINT": server.endpoint,
        "BACKEND_ACCESS_KEY": access.group(1),
        "BACKEND_SECRET_KEY": secret.group(1),
    }


def ls_names(cli: Runner, folder: str, env: dict[str, str], path: str | None = None) -> list[str]:
    r = cli("vfolder", "ls", folder, *([path] if path else []), env=env)
    assert "Retrived." in r.stderr, r.stdout + r.stderr
    return [line.split()[0] for line in r.stdout.splitlines()[2:] if line.strip()]


def wait_gone(cli: Runner, name: str, env: dict[str, str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while name in cli("ps", "--name-only", env=env).stdout.split():
        assert time.monotonic() < deadline, f"{name} is still listed after rm"
        time.sleep(0.5)


def test_seed_000_hosts_create_list_ls(cli: Runner, live_server: LiveServer) -> None:
    env = fresh_user(cli, live_server)
    r = cli("vfolder", "list", env=env)
    assert (r.returncode, r.stdout) == (0, "There is no virtual folders created yet.\n"), r.stderr
    r = cli("vfolder", "list-hosts", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Default vfolder host: local\nUsable hosts: local\n"
    r = cli("vfolder", "create", "myfolder", "local", env=env)
    assert (r.returncode, r.stdout) == (0, 'Virtual folder "myfolder" is created.\n'), r.stderr
    r = cli("vfolder", "list", env=env)
    assert r.returncode == 0, r.stderr
    header, _, row = r.stdout.splitlines()[:3]
    assert header.split()[:2] == ["Name", "ID"]
    for title in ("Name", "ID", "Owner", "Permission", "Owership Type", "Usage Mode", "User"):
        assert title in header
    assert re.match(r"myfolder\s+[0-9a-f-]{32,36}\s+(local\s+)?True\s+rw\s+user\s+general\s", row)
    assert ls_names(cli, "myfolder", env) == []
    r = cli("vfolder", "info", "myfolder", env=env)
    assert r.stdout.startswith('Virtual folder "myfolder" (ID: '), r.stderr
    assert "- Number of files: 0" in r.stdout
    r = cli("vfolder", "delete", "myfolder", env=env)
    assert r.returncode == 0 and "Deleted." in r.stderr, r.stderr


@pytest.mark.docker
def test_seed_000_file_preserved_after_run_rm(
    cli: Runner, live_server: LiveServer, tmp_path: Path
) -> None:
    env = fresh_user(cli, live_server)
    assert cli("vfolder", "create", "myfolder", "local", env=env).returncode == 0
    (tmp_path / "main.py").write_text(MAIN_PY)
    r = cli("run", "--rm", "-m", "myfolder", "--exec", "ls /home/work", "python", "main.py",
            env=env, cwd=tmp_path)  # fmt: skip
    assert "Cleaned up the session." in r.stderr, r.stdout + r.stderr
    assert "myfolder" in r.stdout.split(), r.stdout
    r = cli("run", "--rm", "-m", "myfolder", "--exec", "touch /home/work/myfolder/file-preserved",
            "python", "main.py", env=env, cwd=tmp_path)  # fmt: skip
    assert "Execution finished. (exit code = 0)" in r.stderr, r.stdout + r.stderr
    r = cli("vfolder", "ls", "myfolder", env=env)
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["file", "name", "size", "modified", "mode"], r.stdout + r.stderr
    row = lines[2].split()
    assert (row[0], row[1], row[-1]) == ("file-preserved", "0", "-rw-r--r--")


@pytest.mark.docker
def test_seed_000_folder_mounted_in_started_session(cli: Runner, live_server: LiveServer) -> None:
    env = fresh_user(cli, live_server)
    assert cli("vfolder", "create", "myfolder", "local", env=env).returncode == 0
    session = unique("vfs")
    r = cli("start", "-t", session, "-m", "myfolder", "python", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        r = cli("ls", session, "/home/work", env=env)
        assert "myfolder" in r.stdout, r.stdout + r.stderr
        r = cli("vfolder", "delete", "myfolder", env=env)
        assert r.returncode != 0  # in use by a live session (docs/vfolders.md: 409)
    finally:
        cli("rm", session, env=env)
    wait_gone(cli, session, env)


def test_upload_then_download_returns_the_same_bytes(
    cli: Runner, live_server: LiveServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = fresh_user(cli, live_server)
    assert cli("vfolder", "create", "data", "local", env=env).returncode == 0
    up_dir, down_dir = tmp_path / "up", tmp_path / "down"
    up_dir.mkdir()
    down_dir.mkdir()
    payload = os.urandom(3 * 2**20 + 12345)
    (up_dir / "blob.bin").write_bytes(payload)
    r = cli("vfolder", "upload", "data", "blob.bin", env=env, cwd=up_dir)
    assert r.returncode == 0 and "Done." in r.stderr, r.stdout + r.stderr
    assert "blob.bin" in ls_names(cli, "data", env)
    r = cli("vfolder", "download", "data", "blob.bin", env=env, cwd=down_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    got = (down_dir / "blob.bin").read_bytes()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(payload).hexdigest()
    if which(request) == "ours":
        again = cli("vfolder", "download", "data", "blob.bin", env=env, cwd=down_dir)
        assert again.returncode == 1 and "already exists" in again.stderr
        r = cli("vfolder", "cp", "data:blob.bin", "data:copy.bin", env=env)
        assert r.returncode == 0, r.stderr
        r = cli("vfolder", "mkdir", "-p", "data", "a/b", env=env)
        assert r.returncode == 0, r.stderr
        r = cli("vfolder", "mv", "data", "copy.bin", "a/b", env=env)
        assert r.returncode == 0, r.stderr
        assert ls_names(cli, "data", env, "a/b") == ["copy.bin"]
        r = cli("vfolder", "rm", "-r", "-y", "data", "a", env=env)
        assert r.returncode == 0, r.stderr
        assert "a" not in ls_names(cli, "data", env)
        assert cli("vfolder", "delete", "data", env=env).returncode == 0
        assert "data" in cli("vfolder", "list", "--trash", env=env).stdout
        assert cli("vfolder", "restore", "data", env=env).returncode == 0
        assert cli("vfolder", "delete", "data", env=env).returncode == 0
        r = cli("vfolder", "purge", "-y", "data", env=env)
        assert r.returncode == 0, r.stderr
        assert cli("vfolder", "list", "--trash", env=env).stdout.startswith("There is no")


@pytest.mark.docker
def test_seed_001_ssh_folder_with_authorized_keys(
    cli: Runner, live_server: LiveServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = fresh_user(cli, live_server)
    key = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 test@example.com\n"
    (tmp_path / "authorized_keys").write_text(key)
    # The installed 20.9.9 client's click makes HOST required, unlike seed 001's example.
    host = ["local"] if which(request) == "official" else []
    r = cli("vfolder", "create", ".ssh", *host, env=env)
    assert (r.returncode, r.stdout) == (0, 'Virtual folder ".ssh" is created.\n'), r.stderr
    r = cli("vfolder", "upload", ".ssh", "authorized_keys", env=env, cwd=tmp_path)
    assert r.returncode == 0 and "Done." in r.stderr, r.stdout + r.stderr
    assert ls_names(cli, ".ssh", env) == ["authorized_keys"]
    # A dot-prefixed folder is mounted in every session; the key lands in ~/.ssh.
    (tmp_path / "main.py").write_text(MAIN_PY)
    r = cli("run", "--rm", "--exec", "cat /home/work/.ssh/authorized_keys", "python", "main.py",
            env=env, cwd=tmp_path)  # fmt: skip
    assert key.strip() in r.stdout, r.stdout + r.stderr


def test_session_mode_transfers_through_the_webserver(
    cli: Runner, live_server: LiveServer, tmp_path: Path
) -> None:
    demo = live_server.user("demo")
    env = session_env(live_server)
    login = cli("login", env=env, stdin=f"{demo['email']}\n{demo['password']}\n")
    assert "Login succeeded" in login.stdout + login.stderr
    name = unique("web")
    r = cli("vfolder", "create", name, "local", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        (tmp_path / "up").mkdir()
        (tmp_path / "down").mkdir()
        payload = os.urandom(100_000)
        (tmp_path / "up" / "web.bin").write_bytes(payload)
        r = cli("vfolder", "upload", name, "web.bin", env=env, cwd=tmp_path / "up")
        assert r.returncode == 0, r.stdout + r.stderr
        assert ls_names(cli, name, env) == ["web.bin"]
        r = cli("vfolder", "download", name, "web.bin", env=env, cwd=tmp_path / "down")
        assert r.returncode == 0, r.stdout + r.stderr
        assert (tmp_path / "down" / "web.bin").read_bytes() == payload
    finally:
        cli("vfolder", "delete", name, env=env)


@pytest.mark.docker
def test_symlinks_made_in_a_session_lead_nowhere(
    cli: Runner, live_server: LiveServer, tmp_path: Path
) -> None:
    """A tenant makes links to the host's files inside its folder from a session; through the
    API they are listed as links and never followed (download, listing inside)."""
    env = fresh_user(cli, live_server)
    assert cli("vfolder", "create", "myfolder", "local", env=env).returncode == 0
    (tmp_path / "main.py").write_text(MAIN_PY)
    links = "cd /home/work/myfolder && ln -s /etc/passwd pw && ln -s / root && ln -s .. up"
    r = cli("run", "--rm", "-m", "myfolder", "--exec", links, "python", "main.py",
            env=env, cwd=tmp_path)  # fmt: skip
    assert "Execution finished. (exit code = 0)" in r.stderr, r.stdout + r.stderr
    assert sorted(ls_names(cli, "myfolder", env)) == ["pw", "root", "up"]
    out = tmp_path / "out"
    out.mkdir()
    r = cli("vfolder", "download", "myfolder", "pw", env=env, cwd=out)
    assert list(out.iterdir()) == [], r.stdout + r.stderr  # nothing of /etc/passwd came out
    assert "symbolic link" in r.stdout + r.stderr, r.stdout + r.stderr
    for inside in ("root", "root/etc", "up"):
        r = cli("vfolder", "ls", "myfolder", inside, env=env)
        assert "passwd" not in r.stdout and "etc" not in r.stdout.split(), r.stdout
        assert "not followed" in r.stdout + r.stderr, r.stdout + r.stderr
