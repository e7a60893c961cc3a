"""Operations on a live platform through both CLIs: dotfiles in a new session's home, manager
freeze/unfreeze, ``admin etcd``, announcements, ``server-logs`` and the signing ``proxy``.

Each test uses names of its own and undoes what it changed (a freeze, an announcement), so the
other tests on the same live server are not disturbed.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session as OrmSession

from backendai.manager.db.models import ErrorLog
from tests.compat.conftest import OFFICIAL, OURS, Runner, api_env
from tests.fixtures.live import LiveServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.compat]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def output(r: subprocess.CompletedProcess[str]) -> str:
    return r.stdout + r.stderr


@pytest.mark.docker
def test_a_user_bashrc_appears_in_the_next_session(
    cli: Runner, live_server: LiveServer, tmp_path: Path
) -> None:
    env = api_env(live_server)
    marker = unique("dotfile-marker")
    source = tmp_path / "bashrc"
    source.write_text(f"export MARKER={marker}\n")
    r = cli("dotfile", "create", ".bashrc", "--perm", "644", "-f", str(source), env=env)
    assert r.returncode == 0, output(r)
    assert "Dotfile .bashrc created and ready" in r.stderr
    name = unique("dotfile")
    try:
        listed = cli("dotfile", "list", env=env)
        assert ".bashrc" in listed.stdout and "644" in listed.stdout
        code = "print(open('/home/work/.bashrc').read())"
        r = cli("run", "--rm", "-t", name, "-c", code, "python", env=env)
        assert f"export MARKER={marker}" in r.stdout, output(r)
    finally:
        r = cli("dotfile", "delete", ".bashrc", "-f", env=env)
        assert r.returncode == 0 and "deleted" in r.stderr, output(r)
    assert "There is no dotfiles created yet." in cli("dotfile", "list", env=env).stdout


@pytest.fixture
def unfrozen_after(live_server: LiveServer, cli: Runner) -> Iterator[None]:
    yield
    cli("manager", "unfreeze", env=api_env(live_server, "superadmin"))


@pytest.mark.docker
def test_freeze_refuses_new_sessions_with_a_clear_message(
    cli: Runner, live_server: LiveServer, unfrozen_after: None
) -> None:
    su, demo = api_env(live_server, "superadmin"), api_env(live_server)
    r = cli("manager", "freeze", env=su)
    assert r.returncode == 0 and "Manager is successfully frozen." in r.stdout, output(r)
    status = cli("manager", "status", env=demo)
    assert "frozen" in status.stdout and "Active Sessions" in status.stdout, output(status)
    refused = cli("run", "--rm", "-c", "print('no')", "python", env=demo)
    assert refused.returncode != 0 or "no\n" not in refused.stdout
    assert "frozen" in output(refused) and "manager unfreeze" in output(refused)
    denied = cli("manager", "unfreeze", env=demo)
    assert denied.returncode == 1 and "403" in output(denied)
    r = cli("manager", "unfreeze", env=su)
    assert r.returncode == 0 and "Manager is successfully unfrozen." in r.stdout
    assert "running" in cli("manager", "status", env=demo).stdout
    ok = cli("run", "--rm", "-c", "print('after unfreeze')", "python", env=demo)
    assert "after unfreeze\n" in ok.stdout, output(ok)


def test_admin_etcd_set_get_delete(cli: Runner, live_server: LiveServer) -> None:
    su = api_env(live_server, "superadmin")
    key = f"config/{unique('test')}"
    r = cli("admin", "etcd", "set", f"{key}/registry", '{"url": "http://r.example"}', env=su)
    assert "Value converted to a dictionary." in output(r)
    assert "Successfully set key/value." in output(r), output(r)
    r = cli("admin", "etcd", "set", f"{key}/name", "plain text", env=su)
    assert "Successfully set key/value." in output(r)
    got = cli("admin", "etcd", "get", f"{key}/registry/url", env=su)
    assert '"http://r.example"' in output(got), output(got)
    tree = cli("admin", "etcd", "get", key, "--prefix", env=su)
    assert '"url": "http://r.example"' in output(tree) and '"name": "plain text"' in output(tree)
    denied = cli("admin", "etcd", "get", key, env=api_env(live_server))
    assert denied.returncode == 1 and "403" in output(denied), output(denied)
    r = cli("admin", "etcd", "delete", key, "--prefix", env=su)
    assert "Successfully deleted key/value." in output(r)
    assert "null" in output(cli("admin", "etcd", "get", f"{key}/name", env=su))


def test_announcement_update_get_delete(
    cli: Runner, live_server: LiveServer, tmp_path: Path
) -> None:
    # The official client writes its announcement state there and fails when it is missing.
    (tmp_path / "home" / ".local" / "state" / "backend.ai").mkdir(parents=True, exist_ok=True)
    su, demo = api_env(live_server, "superadmin"), api_env(live_server)
    message = unique("Maintenance tonight")
    try:
        r = cli("announcement", "update", "-m", message, env=su)
        assert "Posted new announcement." in output(r), output(r)
        got = cli("announcement", "get", env=demo)
        assert message in got.stdout
        assert "The server has an announcement!" in got.stderr
        denied = cli("announcement", "update", "-m", "nope", env=demo)
        assert denied.returncode == 1 and "403" in output(denied)
    finally:
        r = cli("announcement", "delete", env=su, stdin="y\n", timeout=60)
        assert "Deleted announcement." in output(r), output(r)
    assert "No announcements." in cli("announcement", "get", env=demo).stdout


def test_server_logs_list_shows_a_recorded_error(cli: Runner, live_server: LiveServer) -> None:
    message = unique("recorded failure")
    url = f"sqlite:///{live_server.data_dir / 'backendai.db'}"
    engine = sa.create_engine(url)
    try:
        with OrmSession(engine) as db, db.begin():
            db.add(ErrorLog(message=message, request_url="GET /x", request_status=500))
    finally:
        engine.dispose()
    r = cli("server-logs", "list", "-l", "100", env=api_env(live_server, "superadmin"))
    assert r.returncode == 0, output(r)
    assert "Total log count:" in r.stdout and message in r.stdout
    assert "500 GET /x" in r.stdout and "ERROR manager" in r.stdout
    # A user sees only its own errors: not this one, which was nobody's.
    mine = cli("server-logs", "list", env=api_env(live_server))
    assert mine.returncode == 0 and message not in mine.stdout


@pytest.mark.parametrize("which", ["official", "ours"])
def test_proxy_signs_a_graphql_request_for_a_plain_client(
    which: str, live_server: LiveServer, tmp_path: Path
) -> None:
    exe = OFFICIAL if which == "official" else OURS
    if not exe.exists():
        pytest.skip(f"{exe} is missing")
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    env |= {"XDG_STATE_HOME": str(tmp_path / "state"), **api_env(live_server)}
    log = tmp_path / "proxy.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(exe), "proxy", "--bind", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        body = json.dumps({"query": "{ keypair { access_key } }", "variables": {}}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/admin/gql", data=body,
            headers={"Content-Type": "application/json"}, method="POST",
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:
                    answer = json.loads(resp.read())
                break
            except urllib.error.URLError as e:
                if isinstance(e, urllib.error.HTTPError) or time.monotonic() > deadline:
                    raise AssertionError(f"{e}\n{log.read_text()}") from e
                time.sleep(0.2)
        access_key = live_server.user("demo")["access_key"]
        assert answer["data"]["keypair"]["access_key"] == access_key
        if which == "ours":
            assert "DEVELOPMENT ONLY" in log.read_text()
            # A page on another site cannot drive it through the browser.
            cross = urllib.request.Request(
                f"http://127.0.0.1:{port}/admin/gql", data=body, method="POST",
                headers={"Content-Type": "application/json", "Origin": "http://evil.example"},
            )  # fmt: skip
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(cross, timeout=10)
            assert refused.value.code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_show_license_and_watcher_say_what_this_edition_is(
    cli: Runner, live_server: LiveServer
) -> None:
    su = api_env(live_server, "superadmin")
    r = cli("admin", "show-license", env=su)
    assert "open edition" in output(r), output(r)
    r = cli("admin", "watcher", "agent-restart", "i-local", env=su)
    assert r.returncode == 1 and "Agent watching is not available" in output(r), output(r)
