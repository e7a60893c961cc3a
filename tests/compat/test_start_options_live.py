"""Seed 001's ``start`` options, end to end on a live platform with both CLIs (the official
20.9.9 client and ours): ``--tag``, ``--preopen``, ``--resource-opts shmem=``, ``-o/--owner``,
``--starts-at``, ``--enqueue-only`` and ``--max-wait``, each with its bad values refused clearly
and nothing created.

The local agent has few cores and every session needs at least one, so each test holds at most
two sessions at a time and removes what it started. Statuses are read from the platform's
database where a test only waits for one; what a user sees is read from the CLI.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa

from backendai.common.statuses import SessionStatus
from backendai.manager.db.models import Session, SessionStatusChange
from tests.compat.conftest import OFFICIAL, OURS, Runner, api_env
from tests.compat.test_apps_seed import AppProxy, child_env
from tests.compat.test_queue_display import _read, agent_cpus
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.compat, pytest.mark.docker]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def output(r: subprocess.CompletedProcess[str]) -> str:
    return r.stdout + r.stderr


def which(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.params["cli"])


def sessions_named(server: LiveServer, name: str) -> list[Session]:
    return asyncio.run(_read(server, sa.select(Session).where(Session.name == name)))


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def status_of(server: LiveServer, name: str) -> SessionStatus | None:
    rows = sessions_named(server, name)
    return rows[-1].status if rows else None


def is_running(server: LiveServer, name: str) -> bool:
    return status_of(server, name) is SessionStatus.RUNNING


def running_since(server: LiveServer, name: str) -> datetime:
    [session] = sessions_named(server, name)
    query = sa.select(SessionStatusChange.changed_at).where(
        SessionStatusChange.session_id == session.id,
        SessionStatusChange.status == SessionStatus.RUNNING,
    )
    [moment] = asyncio.run(_read(server, query))
    assert isinstance(moment, datetime)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ps_line(cli: Runner, env: dict[str, str], name: str, fields: str) -> str:
    r = cli("ps", "-f", fields, env=env)
    assert r.returncode == 0, output(r)
    return next((line for line in r.stdout.splitlines() if line.startswith(name)), "")


def test_tag_is_shown_by_ps_and_info(
    cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    env = api_env(live_server)
    name, tag = unique(which(request)[:3] + "tag"), unique("exp")
    r = cli("start", "-t", name, "--tag", tag, "--enqueue-only", "python", env=env)
    try:
        assert r.returncode == 0, output(r)
        line = ps_line(cli, env, name, "name,tag,status")
        assert line.split()[:2] == [name, tag], line
        detail = cli("ps", "--detail", env=env)
        assert re.search(rf"^{name} .* {tag} ", detail.stdout, re.M), detail.stdout
        [session] = sessions_named(live_server, name)
        info = cli("info", str(session.id), env=env)
        assert re.search(rf"^Tag:\s+{tag}$", info.stdout, re.M), output(info)
    finally:
        cli("rm", name, env=env)


def test_preopen_port_is_an_app_reached_with_app(
    cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = api_env(live_server)
    name, token = unique(which(request)[:3] + "pre"), uuid.uuid4().hex
    r = cli("start", "-t", name, "--preopen", "8000,8001", "python", env=env)
    proxy = None
    try:
        assert r.returncode == 0, output(r)
        listed = next(x for x in r.stderr.splitlines() if "following app services" in x)
        assert {"preopen-8000", "preopen-8001"} <= set(listed.split(": ", 1)[1].split(", "))
        apps = cli("apps", name, env=env)
        assert apps.returncode == 0 and "preopen-8000" in output(apps), output(apps)
        # A web server of the user's own on the preopened port, as a notebook cell would start.
        code = (
            "import pathlib, subprocess\n"
            "www = pathlib.Path('/home/work/www'); www.mkdir(exist_ok=True)\n"
            f"(www / 'marker.txt').write_text('{token}')\n"
            "subprocess.Popen(['python3', '-m', 'http.server', '8000', '--directory', str(www)],"
            " start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            "print('serving')\n"
        )
        r = cli("run", "-t", name, "-c", code, "python", env=env)
        assert "serving" in r.stdout, output(r)
        exe = OFFICIAL if which(request) == "official" else OURS
        home = tmp_path / "home"
        proxy = AppProxy(exe, child_env(env, home, exe), name, "preopen-8000")
        body = ""

        def served() -> bool:
            nonlocal body
            try:
                url = f"http://127.0.0.1:{proxy.port}/marker.txt"
                with urllib.request.urlopen(url, timeout=10) as resp:
                    body = resp.read().decode()
            except (urllib.error.URLError, ConnectionError):
                return False  # the server in the session may not listen yet
            return True

        wait_for("the preopened port through the app proxy", served, timeout=30)
        assert body == token
    finally:
        if proxy is not None:
            proxy.stop()
        cli("rm", name, env=env)


@pytest.mark.parametrize("ports", ["80", "70000", "8000,1023", "abc", "8000,,8001"])
def test_bad_preopen_ports_are_refused(
    cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest, ports: str
) -> None:
    name = unique(which(request)[:3] + "badpre")
    r = cli("start", "-t", name, "--preopen", ports, "--enqueue-only", "python",
            env=api_env(live_server))  # fmt: skip
    assert r.returncode != 0, output(r)
    if ports[0].isdigit() and ",," not in ports:  # well formed: the server's 400
        bad = ports.split(",")[-1]
        assert "400 Bad Request" in output(r), output(r)
        assert f"{bad} is not a port a session may open; use 1024 to 65535" in output(r)
    elif which(request) == "ours":  # 20.9.9 dies of a ValueError on these
        assert r.returncode == 2 and "is not a port number" in r.stderr, output(r)
    assert sessions_named(live_server, name) == []


def test_resource_opts_shmem_sizes_dev_shm(
    cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    env = api_env(live_server)
    name = unique(which(request)[:3] + "shm")
    r = cli("start", "-t", name, "--resource-opts", "shmem=256m", "python", env=env)
    try:
        assert r.returncode == 0, output(r)
        code = (
            "import subprocess\n"
            "print(subprocess.run(['df', '-B1', '--output=size', '/dev/shm'],"
            " capture_output=True, text=True).stdout.split()[-1])\n"
            "print([m for m in open('/proc/mounts') if ' /dev/shm ' in m][0].strip())\n"
        )
        r = cli("run", "-t", name, "-c", code, "python", env=env)
        lines = r.stdout.splitlines()
        assert lines[0] == str(256 * 2**20), output(r)
        assert "size=262144k" in lines[1], output(r)
    finally:
        cli("rm", name, env=env)


@pytest.mark.parametrize(
    ("opt", "text"),
    [
        ("shmem=abc", "Invalid amount for resource option shmem: 'abc'"),
        ("shmem=0", "Invalid resource option shmem=0: write a size more than zero"),
        # The session's memory is 512 MiB by default; its /dev/shm counts against it.
        ("shmem=1g", "shared memory must be smaller than the session's memory (mem 512 MiB)"),
        ("swap=1g", "Unknown resource option swap; known: shmem."),
    ],
)
def test_bad_resource_opts_are_refused(
    cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest, opt: str, text: str
) -> None:
    name = unique(which(request)[:3] + "badshm")
    r = cli("start", "-t", name, "--resource-opts", opt, "--enqueue-only", "python",
            env=api_env(live_server))  # fmt: skip
    assert r.returncode != 0, output(r)
    assert "400 Bad Request" in output(r) and text in output(r), output(r)
    assert sessions_named(live_server, name) == []


def test_owner_admin_creates_for_another_user_a_user_cannot(
    cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    admin, demo = api_env(live_server, "superadmin"), api_env(live_server)
    demo_key, admin_key = demo["BACKEND_ACCESS_KEY"], admin["BACKEND_ACCESS_KEY"]
    name, refused = unique(which(request)[:3] + "own"), unique(which(request)[:3] + "steal")
    r = cli("start", "-t", name, "-o", demo_key, "--enqueue-only", "python", env=admin)
    try:
        assert r.returncode == 0, output(r)
        [session] = sessions_named(live_server, name)
        assert session.access_key == demo_key
        mine = cli("ps", "--name-only", env=demo)
        assert name in mine.stdout.split(), output(mine)
        r = cli("start", "-t", refused, "-o", admin_key, "--enqueue-only", "python", env=demo)
        assert r.returncode != 0, output(r)
        assert "403 Forbidden" in output(r), output(r)
        assert "You may only create your own sessions." in output(r), output(r)
        assert sessions_named(live_server, refused) == []
    finally:
        cli("rm", name, env=demo)  # the owner may remove it


def test_starts_at_waits_pending_then_starts(
    cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    env = api_env(live_server)
    name = unique(which(request)[:3] + "later")
    submitted = datetime.now(UTC)
    # Both spellings: a delay with ours, an ISO time with the official client.
    when = "8s" if which(request) == "ours" else (submitted + timedelta(seconds=8)).isoformat()
    r = cli("start", "-t", name, "--starts-at", when, "--enqueue-only", "python", env=env)
    try:
        assert r.returncode == 0, output(r)
        assert "is enqueued for scheduling." in r.stderr, output(r)
        line = ps_line(cli, env, name, "name,status,status_info")
        assert line.split()[1] == "PENDING", line
        found = re.search(r"waits to start at (\S+)", line)
        assert found, line
        starts_at = datetime.fromisoformat(found.group(1))
        assert timedelta(seconds=7) <= starts_at - submitted <= timedelta(seconds=10), line
        wait_for("the session to start", partial(is_running, live_server, name))
        assert running_since(live_server, name) >= starts_at
    finally:
        cli("rm", name, env=env)


@pytest.mark.parametrize("value", ["tomorrow", "10x", "-5s", "400d"])
def test_bad_starts_at_is_refused(
    cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest, value: str
) -> None:
    name = unique(which(request)[:3] + "badat")
    r = cli("start", "-t", name, f"--starts-at={value}", "--enqueue-only", "python",
            env=api_env(live_server))  # fmt: skip
    assert r.returncode != 0, output(r)
    assert f"Invalid starts_at '{value}'" in output(r), output(r)
    hint = "at most 366 days from now" if value == "400d" else "a delay like 30m, 2h, 1d"
    assert hint in output(r), output(r)
    assert sessions_named(live_server, name) == []


def test_enqueue_only_and_max_wait_on_a_full_platform(
    cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    env = api_env(live_server)
    prefix = which(request)[:3]
    holder, queued, waiter = unique(prefix + "full"), unique(prefix + "enq"), unique(prefix + "mw")
    try:
        r = cli("start", "-t", holder, "-r", f"cpu={agent_cpus(live_server)}", "python", env=env)
        assert r.returncode == 0, output(r)
        began = time.monotonic()
        r = cli("start", "-t", queued, "--enqueue-only", "python", env=env)
        assert r.returncode == 0, output(r)
        enqueued = r"Session ID [0-9a-f-]{36} is enqueued for scheduling\."
        assert re.search(enqueued, r.stderr), output(r)
        assert time.monotonic() - began < 10
        assert status_of(live_server, queued) is SessionStatus.PENDING
        began = time.monotonic()
        r = cli("start", "-t", waiter, "--max-wait", "2", "python", env=env)
        waited = time.monotonic() - began
        assert r.returncode == 0, output(r)
        still_queued = r"Session ID [0-9a-f-]{36} is still on the job queue\."
        assert re.search(still_queued, r.stderr), output(r)
        assert 2 <= waited < 12, waited
        assert status_of(live_server, waiter) is SessionStatus.PENDING
        r = cli("rm", holder, env=env)
        assert r.returncode == 0, output(r)
        for name in (queued, waiter):  # room freed: both start by themselves
            wait_for(f"{name} to start", partial(is_running, live_server, name))
    finally:
        cli("rm", holder, queued, waiter, env=env)


def test_run_enqueue_only_and_max_wait_do_not_execute(
    cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    """Seed 001: with ``--enqueue-only`` the code is not executed; with ``--max-wait`` it is not
    either when the session has not started in time (the platform is full here)."""
    env = api_env(live_server)
    prefix = which(request)[:3]
    holder, queued, waiter = (unique(prefix + part) for part in ("full", "renq", "rmw"))
    try:
        r = cli("start", "-t", holder, "-r", f"cpu={agent_cpus(live_server)}", "python", env=env)
        assert r.returncode == 0, output(r)
        r = cli("run", "-t", queued, "--enqueue-only", "-c", "print('ran' + '!')", "python",
                env=env)  # fmt: skip
        assert "ran!" not in r.stdout, output(r)
        assert "enqueued for scheduling" in r.stderr, output(r)
        assert status_of(live_server, queued) is SessionStatus.PENDING
        began = time.monotonic()
        r = cli("run", "-t", waiter, "--max-wait", "2", "-c", "print('ran' + '!')", "python",
                env=env)  # fmt: skip
        assert 2 <= time.monotonic() - began < 12
        assert "ran!" not in r.stdout, output(r)
        assert "still on the job queue" in r.stderr, output(r)
        assert status_of(live_server, waiter) is SessionStatus.PENDING
    finally:
        cli("rm", holder, queued, waiter, env=env)
