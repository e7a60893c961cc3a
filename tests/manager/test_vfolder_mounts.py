"""Virtual folders mounted into new sessions: ``-m NAME``, ``-m NAME=PATH``, dot-folders.

Folders are rows made directly in the database (the /folders API is not needed); the fake
agent records the ``KernelCreateRequest`` the launcher sends.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer

from backendai.agent.backends.fake import FakeBackend
from backendai.agent.main import create_app as create_agent_app
from backendai.agent.settings import AgentSettings
from backendai.common.agent_protocol import LABEL_SESSION_ID
from backendai.common.statuses import SessionStatus, VFolderOwnership, VFolderPermission
from backendai.common.storage_protocol import folder_path
from backendai.common.vfolders import VFOLDER_HOST_PERMISSIONS
from backendai.manager.db.models import Domain, Group, User, VFolder, VFolderShare
from backendai.manager.scheduler.launcher import _vfolders
from tests.fixtures.live import free_port
from tests.fixtures.platform import TEST_AGENT_TOKEN, ManagerHarness, running_manager
from tests.manager.conftest import (
    FAST,
    count_sessions,
    create,
    create_body,
    session_row,
    wait_status,
)
from tests.manager.fake_agent import FakeAgent
from tests.manager.test_with_agent import _wait_joined


async def _user(platform: ManagerHarness, email: str) -> uuid.UUID:
    async with platform.ctx.db() as db:
        return (await db.scalars(sa.select(User.uuid).where(User.email == email))).one()


async def folder(
    platform: ManagerHarness,
    name: str,
    *,
    owner: str = "demo@example.com",
    group: bool = False,
    permission: VFolderPermission = VFolderPermission.READ_WRITE,
    host: str = "local",
) -> uuid.UUID:
    """A ready folder row owned by ``owner`` (or, with ``group``, by the default group)."""
    async with platform.ctx.db() as db, db.begin():
        if group:
            gid = (await db.scalars(sa.select(Group.id).where(Group.name == "default"))).one()
            row = VFolder(name=name, host=host, permission=permission, group=gid,
                          ownership_type=VFolderOwnership.GROUP, domain_name="default")  # fmt: skip
        else:
            uid = (await db.scalars(sa.select(User.uuid).where(User.email == owner))).one()
            row = VFolder(name=name, host=host, permission=permission, user=uid,
                          ownership_type=VFolderOwnership.USER, domain_name="default")  # fmt: skip
        db.add(row)
        await db.flush()
        return row.id


def mounts(names: list[str], mount_map: dict[str, str] | None = None) -> dict[str, Any]:
    return {"config": {"mounts": names, "mount_map": mount_map or {}}}


def by_name(stored: list[Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in stored}


async def test_mounts_stored_and_sent_to_the_agent(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    data = await folder(platform, "data")
    other = await folder(platform, "other")
    rel = await folder(platform, "rel")
    status, body = await create(
        platform, "mnt1",
        **mounts(["data", "other", "rel"], {"other": "/home/work/elsewhere/x", "rel": "sub/dir"}),
    )  # fmt: skip
    assert status == 201, body
    s = await wait_status(platform, body["sessionId"], SessionStatus.RUNNING)
    stored = by_name(s.vfolder_mounts)
    assert stored["data"] == {
        "name": "data", "vfid": str(data), "volume": "local",
        "container_path": "/home/work/data", "permission": "rw", "read_only": False,
    }  # fmt: skip
    assert stored["other"]["container_path"] == "/home/work/elsewhere/x"
    assert stored["other"]["vfid"] == str(other)
    assert stored["rel"]["container_path"] == "/home/work/sub/dir"
    assert stored["rel"]["vfid"] == str(rel)
    req = next(r for r in joined.create_calls if r.session_id == s.id)
    sent = {m.name: m for m in req.vfolders}
    assert set(sent) == {"data", "other", "rel"}
    assert sent["data"].vfid == data and sent["data"].volume == "local"
    assert sent["other"].container_path == "/home/work/elsewhere/x"
    assert not any(m.read_only for m in req.vfolders)
    # The GraphQL session lists the folder names.
    result = await platform.gql(
        "query($id: UUID!) { compute_session(id: $id) { mounts } }", {"id": body["sessionId"]}
    )
    assert sorted(result["data"]["compute_session"]["mounts"]) == ["data", "other", "rel"]


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("/tmp/data", "not under /home/work"),
        ("/home/workx", "not under /home/work"),
        ("/home/work/../etc", "'..'"),
        ("../escape", "'..'"),
        ("/home/work", "/home/work itself"),
        ("/home/work/", "/home/work itself"),
        ("/home/work/a\nb", "control character"),
    ],
)
async def test_bad_paths_are_refused(
    platform: ManagerHarness, joined: FakeAgent, target: str, why: str
) -> None:
    await folder(platform, "data")
    status, body = await create(platform, "badpath", **mounts(["data"], {"data": target}))
    assert status == 400, body
    assert "'data'" in body["msg"] and why in body["msg"], body["msg"]
    assert await count_sessions(platform) == 0
    assert joined.create_calls == []


async def test_duplicates_and_nesting_are_refused(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    a = await folder(platform, "alpha")
    await folder(platform, "beta")
    cases = [
        (["alpha", "beta"], {"beta": "alpha"}, "duplicate mount path"),
        (["alpha", "beta"], {"beta": "/home/work/alpha/inner"}, "may not nest"),
        (["beta", "alpha"], {"beta": "/home/work/alpha/inner"}, "may not nest"),
        (["alpha", str(a)], {}, "named twice"),
        (["alpha"], {"beta": "x"}, "mounts does not name it"),
    ]
    for names, mount_map, why in cases:
        status, body = await create(platform, "nested", **mounts(names, mount_map))
        assert status == 400, (names, mount_map, body)
        assert why in body["msg"], body["msg"]
        assert "'alpha'" in body["msg"] or "'beta'" in body["msg"]
    assert await count_sessions(platform) == 0


async def test_dot_folders_are_added(platform: ManagerHarness, joined: FakeAgent) -> None:
    ssh = await folder(platform, ".ssh")
    local = await folder(platform, ".local")
    await folder(platform, ".config", owner="admin@example.com")  # not demo's
    await folder(platform, ".grp", group=True)  # a group's, not demo's own
    status, body = await create(platform, "dots")
    assert status == 201, body
    s = await wait_status(platform, body["sessionId"], SessionStatus.RUNNING)
    stored = by_name(s.vfolder_mounts)
    assert set(stored) == {".ssh", ".local"}
    assert stored[".ssh"]["container_path"] == "/home/work/.ssh"
    assert stored[".ssh"]["vfid"] == str(ssh)
    assert stored[".local"]["vfid"] == str(local)
    req = next(r for r in joined.create_calls if r.session_id == s.id)
    assert {m.name for m in req.vfolders} == {".ssh", ".local"}
    # Mounted by name elsewhere: not mounted a second time at /home/work/.ssh.
    status, body = await create(platform, "dots2", **mounts([".ssh"], {".ssh": "keys"}))
    assert status == 201, body
    stored = by_name((await session_row(platform, body["sessionId"])).vfolder_mounts)
    assert stored[".ssh"]["container_path"] == "/home/work/keys"
    assert [m["name"] for m in (await session_row(platform, body["sessionId"])).vfolder_mounts
            ].count(".ssh") == 1  # fmt: skip
    # Another folder asked for at a dot-folder's path wins over it.
    await folder(platform, "mine")
    status, body = await create(platform, "dots3", **mounts(["mine"], {"mine": ".local/share"}))
    assert status == 201, body
    stored = by_name((await session_row(platform, body["sessionId"])).vfolder_mounts)
    assert set(stored) == {"mine", ".ssh"}


async def test_read_only_level_mounts_read_only(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    await folder(platform, "team", group=True, permission=VFolderPermission.READ_ONLY)
    theirs = await folder(platform, "lent", owner="admin@example.com")
    async with platform.ctx.db() as db, db.begin():
        demo = await _user(platform, "demo@example.com")
        db.add(VFolderShare(vfolder=theirs, user=demo, permission=VFolderPermission.READ_ONLY))
    status, body = await create(platform, "romount", **mounts(["team", "lent"]))
    assert status == 201, body
    s = await wait_status(platform, body["sessionId"], SessionStatus.RUNNING)
    stored = by_name(s.vfolder_mounts)
    assert stored["team"]["read_only"] is True and stored["team"]["permission"] == "ro"
    assert stored["lent"]["read_only"] is True
    req = next(r for r in joined.create_calls if r.session_id == s.id)
    assert all(m.read_only for m in req.vfolders)


async def test_another_users_folder_is_not_found(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    theirs = await folder(platform, "secret", owner="admin@example.com")
    for ref in ("secret", str(theirs)):
        status, body = await create(platform, "snoop", **mounts([ref]))
        assert status == 404, body
        assert "No virtual folder named" in body["msg"] and ref in body["msg"]
    status, body = await create(platform, "snoop", **mounts(["nosuch"]))
    assert status == 404, body
    assert await count_sessions(platform) == 0
    assert joined.create_calls == []


async def test_mount_in_session_permission_required(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    await folder(platform, "data")
    perms = [p for p in VFOLDER_HOST_PERMISSIONS if p != "mount-in-session"]
    async with platform.ctx.db() as db, db.begin():
        await db.execute(sa.update(Domain).values(allowed_vfolder_hosts={"local": perms}))
    status, body = await create(platform, "nomount", **mounts(["data"]))
    assert status == 403, body
    assert "'data'" in body["msg"] and "mount in session" in body["msg"]
    assert await count_sessions(platform) == 0
    # A dot-folder that cannot be mounted is left out; the session still starts.
    await folder(platform, ".ssh")
    status, body = await create(platform, "nomount2")
    assert status == 201, body
    assert (await session_row(platform, body["sessionId"])).vfolder_mounts == []


async def test_admin_creating_for_a_user_resolves_the_users_folders(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    demo_folder = await folder(platform, "demodata")
    await folder(platform, "admindata", owner="admin@example.com")
    await folder(platform, ".ssh", owner="admin@example.com")
    demo_key = platform.users.demo.access_key
    resp = await platform.signed(
        "POST", "/session", as_="superadmin",
        body=_body("forany", ["admindata"], owner_access_key=demo_key),
    )  # fmt: skip
    assert resp.status == 404, await resp.json()
    resp = await platform.signed(
        "POST", "/session", as_="superadmin",
        body=_body("fordemo", ["demodata"], owner_access_key=demo_key),
    )  # fmt: skip
    body = await resp.json()
    assert resp.status == 201, body
    stored = (await session_row(platform, body["sessionId"])).vfolder_mounts
    assert [m["vfid"] for m in stored] == [str(demo_folder)]  # no admin's .ssh


def _body(name: str, names: list[str], **extra: Any) -> dict[str, Any]:
    return create_body(name, config={"mounts": names}, **extra)


async def test_batch_create_mounts_and_refuses_all(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    await folder(platform, "shared")
    status, body = await create(platform, "batchm", count=2, **mounts(["shared"], {"shared": "s"}))
    assert status == 201, body
    for item in body["sessions"]:
        stored = (await session_row(platform, item["sessionId"])).vfolder_mounts
        assert [(m["name"], m["container_path"]) for m in stored] == [("shared", "/home/work/s")]
    status, body = await create(platform, "batchx", count=3, **mounts(["shared"], {"shared": "/"}))
    assert status == 400 and "'shared'" in body["msg"], body
    assert await count_sessions(platform) == 2


def test_old_rows_with_plain_names_are_skipped() -> None:
    vfid = uuid.uuid4()
    got = _vfolders([
        "legacy-name",
        {"name": "d", "vfid": str(vfid), "volume": "local", "container_path": "/home/work/d",
         "permission": "ro", "read_only": True},
    ])  # fmt: skip
    assert [(m.name, m.vfid, m.read_only) for m in got] == [("d", vfid, True)]
    assert _vfolders([]) == []


async def test_resolution_on_both_engines(tmp_path: Path, db_url: str) -> None:
    """The folder queries (dot-folders by name prefix, shares, groups) on SQLite and PostgreSQL."""
    fake = FakeAgent()
    await fake.start()
    try:
        async with running_manager(tmp_path, db_url, **FAST) as manager:
            assert await fake.send_heartbeat(manager) == 200  # its images are known
            mine = await folder(manager, "mine")
            dot = await folder(manager, ".config")
            await folder(manager, "team", group=True, permission=VFolderPermission.READ_ONLY)
            await folder(manager, "theirs", owner="admin@example.com")
            status, body = await create(
                manager, "engines", enqueueOnly=True, **mounts(["mine", "team"], {"team": "t"})
            )
            assert status == 201, body
            stored = by_name((await session_row(manager, body["sessionId"])).vfolder_mounts)
            assert {n: (m["vfid"], m["container_path"], m["read_only"]) for n, m in stored.items()
                    if n != "team"} == {
                "mine": (str(mine), "/home/work/mine", False),
                ".config": (str(dot), "/home/work/.config", False),
            }  # fmt: skip
            team = stored["team"]
            assert team["container_path"] == "/home/work/t" and team["read_only"]
            status, body = await create(manager, "engines2", enqueueOnly=True, **mounts(["theirs"]))
            assert status == 404, body
            assert await count_sessions(manager) == 1
    finally:
        await fake.close()


async def test_with_the_agent_process_code(tmp_path: Path) -> None:
    """Manager and the real agent code (fake container backend) agree: the folder is bind
    mounted from the agent's volume, a file uploaded under its mount path lands in the folder's
    directory, and a folder the agent cannot find fails the session with the reason."""
    short = Path(tempfile.mkdtemp(prefix="bai-agent-", dir="/tmp"))
    volume = short / "vol"
    backend = FakeBackend()
    async with running_manager(tmp_path, **FAST) as manager:
        port = free_port()
        settings = AgentSettings(
            token=TEST_AGENT_TOKEN, manager_url=manager.url, data_dir=short / "agent",
            backend="fake", heartbeat_interval=0.2, host="127.0.0.1", port=port,
            public_addr=f"http://127.0.0.1:{port}", volume_mounts={"local": volume},
        )  # fmt: skip
        server = TestServer(create_agent_app(settings, backend), host="127.0.0.1", port=port)
        await server.start_server()
        try:
            await _wait_joined(manager, settings.id)
            vfid = await folder(manager, "data")
            path = volume / folder_path(vfid)
            path.mkdir(parents=True)
            status, body = await create(
                manager, "agentm", maxWaitSeconds=30, **mounts(["data"], {"data": "d"})
            )
            assert status == 201 and body["status"] == "RUNNING", body
            [spec] = [c.spec for c in backend.containers.values()
                      if c.spec.labels.get(LABEL_SESSION_ID) == body["sessionId"]]  # fmt: skip
            assert any(m.host_path == str(path) and m.container_path == "/home/work/d"
                       for m in spec.mounts), spec.mounts  # fmt: skip
            resp = await manager.upload("/session/agentm/upload", [("d/in-folder.txt", b"hi")])
            assert resp.status == 204, await resp.text()
            assert (path / "in-folder.txt").read_bytes() == b"hi"
            # The row says the folder is there, the agent's volume does not have it.
            await folder(manager, "gone")
            status, body = await create(manager, "agentx", maxWaitSeconds=30, **mounts(["gone"]))
            s = await wait_status(manager, body["sessionId"], SessionStatus.ERROR, within=15)
            assert "Cannot mount the virtual folder 'gone'" in (s.status_info or "") + str(
                s.status_data
            ), (s.status_info, s.status_data)
        finally:
            await server.close()
            await backend.close()
            shutil.rmtree(short, ignore_errors=True)
