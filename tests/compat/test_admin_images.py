"""Images on the live platform with both CLIs: ``admin images``, ``admin alias-image`` then
``run ... <alias>``, and a session committed to a private image (seed 004) that its owner can
run and nobody else can see or use."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from backendai.common.statuses import UserRole
from backendai.manager.db.engine import create_engine, create_session_factory
from backendai.manager.services.bootstrap import create_user, ensure_defaults
from tests.compat.conftest import OURS, Runner, api_env
from tests.fixtures.live import LiveServer

FULL = "backendai/python:3.11-debian12"
MARK = "/usr/local/share/commit-mark"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def output(r: subprocess.CompletedProcess[str]) -> str:
    return r.stdout + r.stderr


def ours(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Our CLI alone (commands the official client does not have)."""
    return subprocess.run(
        [str(OURS), *args], capture_output=True, text=True, timeout=timeout, check=False,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"} | env,
    )  # fmt: skip


async def _add_user(server: LiveServer, email: str) -> dict[str, str]:
    engine = create_engine(f"sqlite:///{server.data_dir / 'backendai.db'}")
    try:
        async with create_session_factory(engine)() as db, db.begin():
            group = await ensure_defaults(db)
            creds = await create_user(
                db, email=email, role=UserRole.USER, group_id=group, domain="default"
            )
    finally:
        await engine.dispose()
    return {"access_key": creds.access_key, "secret_key": creds.secret_key}


@pytest.fixture(scope="module")
def stranger(live_server: LiveServer) -> dict[str, str]:
    """Another user of the demo user's domain and group, with a keypair."""
    keys = asyncio.run(_add_user(live_server, f"{unique('stranger')}@example.com"))
    return {
        "BACKEND_ENDPOINT_TYPE": "api",
        "BACKEND_ENDPOINT": live_server.endpoint,
        "BACKEND_ACCESS_KEY": keys["access_key"],
        "BACKEND_SECRET_KEY": keys["secret_key"],
    }


def test_admin_images(cli: Runner, live_server: LiveServer) -> None:
    r = cli("admin", "images", env=api_env(live_server, "superadmin"))
    assert r.returncode == 0, output(r)
    header = r.stdout.splitlines()[0].split()
    assert header[:6] == ["Name", "Registry", "Tag", "Digest", "Size", "Aliases"]
    assert any(
        "backendai/python" in line and "3.11-debian12" in line for line in r.stdout.splitlines()
    )


def test_alias_then_run_by_it(cli: Runner, live_server: LiveServer) -> None:
    su, demo = api_env(live_server, "superadmin"), api_env(live_server)
    alias = unique("myalias")
    r = cli("admin", "alias-image", alias, FULL, env=su)
    assert r.returncode == 0 and f"An alias has created: {alias} -> {FULL}" in output(r), output(r)
    try:
        r = cli("run", "--rm", "-c", "print(1)", alias, env=demo)
        assert r.returncode == 0 and "1" in r.stdout.splitlines(), output(r)
        assert alias in cli("admin", "images", env=su).stdout
    finally:
        r = cli("admin", "dealias-image", alias, env=su)
    assert r.returncode == 0 and f"The alias has been removed: {alias}" in output(r), output(r)


def test_alias_to_an_unknown_image_is_refused_by_name(cli: Runner, live_server: LiveServer) -> None:
    r = cli(
        "admin",
        "alias-image",
        unique("ghost"),
        "no/such-image:1",
        env=api_env(live_server, "superadmin"),
    )
    assert r.returncode == 1 and "no/such-image:1" in output(r), output(r)


def test_a_user_may_not_alias(cli: Runner, live_server: LiveServer) -> None:
    r = cli("admin", "alias-image", unique("mine"), FULL, env=api_env(live_server))
    assert r.returncode == 1, output(r)


@pytest.fixture(scope="module")
def committed(live_server: LiveServer) -> Iterator[str]:
    """The demo user's session, with a file installed under /usr/local, committed with our
    CLI."""
    demo = api_env(live_server)
    name = unique("tocommit")
    before = {k["container_id"] for k in live_server.agent_kernels()}
    r = ours("start", "-t", name, "python", env=demo)
    assert r.returncode == 0, output(r)
    image = None
    try:
        new = [k for k in live_server.agent_kernels() if k["container_id"] not in before]
        assert len(new) == 1, new
        # Installed by the session's own user (the image gives it /usr/local), and a file in
        # the home, which the commit leaves out.
        code = f"open('{MARK}', 'w').write('m'); open('/home/work/home-file', 'w').write('x')"
        r = ours("run", "-t", name, "-c", code, "python", env=demo)
        assert r.returncode == 0 and "exit code = 0" in r.stderr, output(r)
        r = ours("session", "commit", name, "--tag", unique("t"), "--output", "json", env=demo)
        assert r.returncode == 0, output(r)
        image = str(json.loads(r.stdout)["image"])
        yield image
    finally:
        ours("rm", name, env=demo)
        if image is not None:
            ours("admin", "delete-image", image, env=demo)
            subprocess.run(["docker", "rmi", "-f", image], capture_output=True, check=False)


def test_committed_image_runs_for_its_owner(
    cli: Runner, live_server: LiveServer, committed: str
) -> None:
    code = (
        f"import os; print(open('{MARK}').read().strip(), os.path.exists('/home/work/home-file'))"
    )
    r = cli("run", "--rm", "-c", code, committed, env=api_env(live_server), timeout=180)
    assert r.returncode == 0, output(r)
    assert "m False" in r.stdout, output(r)
    listed = cli("admin", "images", env=api_env(live_server))
    assert committed.rsplit(":", 1)[1] in listed.stdout, output(listed)


def test_nobody_else_sees_or_uses_it(
    cli: Runner, live_server: LiveServer, committed: str, stranger: dict[str, str]
) -> None:
    r = cli("run", "--rm", "-c", "print(1)", committed, env=stranger)
    text = output(r).lower()
    # Both clients report a failed session creation of `run` and still exit 0.
    assert "unknown image" in text and "404" in text, output(r)
    assert "session_started" not in text and "1" not in r.stdout.splitlines()
    listed = cli("admin", "images", env=stranger)
    assert listed.returncode == 0 and committed.rsplit(":", 1)[1] not in listed.stdout
    assert "private/" not in listed.stdout


def test_removed_by_its_owner(live_server: LiveServer) -> None:
    """A second commit, removed with our CLI: gone from the list and from Docker."""
    demo = api_env(live_server)
    name = unique("toremove")
    assert ours("start", "-t", name, "python", env=demo).returncode == 0
    try:
        r = ours("session", "commit", name, "--output", "json", env=demo)
        assert r.returncode == 0, output(r)
        image = str(json.loads(r.stdout)["image"])
    finally:
        ours("rm", name, env=demo)
    r = ours("admin", "delete-image", image, env=demo)
    assert r.returncode == 0 and "removed" in output(r), output(r)
    assert image.rsplit(":", 1)[1] not in ours("admin", "images", env=demo).stdout
    gone = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)
    assert gone.returncode != 0
