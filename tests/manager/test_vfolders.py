"""Virtual folders through the manager's /folders API, against the real storage process
(in-process, started by ``running_manager``): the seed flow, names, limits, host permissions,
group folders, trash and clone. Sharing is in test_vfolders_sharing.py; every route's
other-user refusal in test_vfolders_other_user.py."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from yarl import URL

from backendai.common.statuses import SessionStatus
from backendai.common.storage_protocol import folder_path
from backendai.manager.db.models import Domain, KeyPairResourcePolicy, Session
from tests.fixtures.platform import ManagerHarness, running_manager
from tests.manager.conftest import FAST
from tests.manager.tenants import Tenants, add_tenants

REQUIRED_LIST_KEYS = {"name", "id", "host", "is_owner", "permission", "ownership_type",
                      "usage_mode", "user", "group", "created_at"}  # fmt: skip
REQUIRED_INFO_KEYS = {"name", "id", "is_owner", "permission", "numFiles", "type", "group", "user",
                      "cloneable"}  # fmt: skip
TUS = {"Tus-Resumable": "1.0.0", "Upload-Offset": "0",
       "Content-Type": "application/offset+octet-stream"}  # fmt: skip


@pytest.fixture
async def world(platform: ManagerHarness) -> Tenants:
    pytest.importorskip("backendai.storage.app")
    return await add_tenants(platform)


async def make(w: Tenants, who: str, name: str, **extra: Any) -> dict[str, Any]:
    """``vfolder create NAME`` exactly as client 20.9.9 sends it."""
    body = {"name": name, "host": None, "unmanaged_path": None, "group": None,
            "usage_mode": "general", "permission": "rw", "quota": "0",
            "cloneable": False}  # fmt: skip
    status, folder = await w.call(who, "POST", "/folders", body | extra)
    assert status == 201, folder
    assert isinstance(folder, dict)
    return folder


async def ticket(w: Tenants, who: str, folder: str, kind: str, body: Any) -> tuple[int, Any]:
    return await w.call(who, "POST", f"/folders/{folder}/request-{kind}", body)


async def upload(w: Tenants, who: str, folder: str, path: str, data: bytes) -> None:
    """request-upload, then the client's tus PATCH (no creation step) to the ticket's URL."""
    status, t = await ticket(w, who, folder, "upload", {"path": path, "size": len(data)})
    assert status == 200, t
    assert URL(t["url"]).is_absolute()
    if not data:
        return  # a 0-byte file sends no PATCH at all
    url = URL(t["url"]).with_query(token=t["token"])
    async with aiohttp.ClientSession() as http, http.patch(url, data=data, headers=TUS) as resp:
        assert resp.status == 204, await resp.text()
        assert resp.headers["Upload-Offset"] == str(len(data))


async def download(w: Tenants, who: str, folder: str, path: str, **headers: str) -> bytes:
    status, t = await ticket(w, who, folder, "download", {"path": path})
    assert status == 200, t
    url = URL(t["url"]).with_query(token=t["token"])
    async with aiohttp.ClientSession() as http, http.get(url, headers=headers) as resp:
        assert resp.status in (200, 206), await resp.text()
        assert "Content-Length" in resp.headers
        return await resp.read()


async def names_in(w: Tenants, who: str, folder: str, path: str = ".") -> set[str]:
    status, listing = await w.call(who, "GET", f"/folders/{folder}/files", {"path": path})
    assert status == 200, listing
    files = json.loads(listing["files"])  # a JSON string, as client 20.9.9 reads it
    assert {f["filename"] for f in files} == {i["name"] for i in listing["items"]}
    return {f["filename"] for f in files}


async def listed(w: Tenants, who: str, **body: Any) -> dict[str, dict[str, Any]]:
    status, found = await w.call(who, "GET", "/folders", {"all": False} | body)
    assert status == 200, found
    for item in found:
        assert set(item) >= REQUIRED_LIST_KEYS, item
    return {f["name"]: f for f in found}


def problem(body: Any) -> str:
    return str(body["type"]).rsplit("/", 1)[-1]


# --- the seed flow, on both engines ----------------------------------------------------------


async def test_seed_flow_on_each_engine(db_url: str, tmp_path: Path) -> None:
    pytest.importorskip("backendai.storage.app")
    async with running_manager(tmp_path, db_url, **FAST) as harness:
        w = await add_tenants(harness)
        await seed_flow(w, tmp_path)


async def seed_flow(w: Tenants, tmp_path: Path) -> None:
    status, hosts = await w.call("demo", "GET", "/folders/_/hosts")
    assert status == 200 and hosts["default"] == "local" and hosts["allowed"] == ["local"]
    assert hosts["volume_info"]["local"]["usage"]["capacity_bytes"] > 0
    folder = await make(w, "demo", "myfolder", host="local")
    assert folder["name"] == "myfolder" and folder["host"] == "local"
    assert folder["ownership_type"] == "user" and folder["user"] == str(w["demo"].uuid)
    assert len(folder["id"]) == 32
    assert set(await listed(w, "demo")) == {"myfolder"}
    assert await names_in(w, "demo", "myfolder") == set()
    status, body = await w.call("demo", "POST", "/folders/myfolder/mkdir", {"path": "a/b"})
    assert (status, body) == (201, {})
    await upload(w, "demo", "myfolder", "hello.txt", b"hello, folder\n")
    await upload(w, "demo", "myfolder", "empty.txt", b"")
    assert await names_in(w, "demo", "myfolder") == {"a", "hello.txt", "empty.txt"}
    assert await names_in(w, "demo", "myfolder", "a") == {"b"}
    assert await download(w, "demo", "myfolder", "hello.txt") == b"hello, folder\n"
    assert await download(w, "demo", "myfolder", "hello.txt", Range="bytes=0-4") == b"hello"
    status, info = await w.call("demo", "GET", "/folders/myfolder")
    assert status == 200 and set(info) >= REQUIRED_INFO_KEYS
    assert info["numFiles"] == 2 and info["is_owner"] and info["shared_with"] == []
    body = {"files": ["hello.txt"], "recursive": False}
    assert await w.call("demo", "DELETE", "/folders/myfolder/delete_files", body) == (200, {})
    assert await names_in(w, "demo", "myfolder") == {"a", "empty.txt"}
    status, body = await w.call("demo", "POST", "/folders/myfolder/rename", {"new_name": "ours"})
    assert status == 201, body
    assert set(await listed(w, "demo")) == {"ours"}
    directory = tmp_path / "vfolders" / "local" / folder_path(uuid.UUID(folder["id"]))
    assert (directory / "empty.txt").is_file()
    # delete -> trash -> restore -> delete -> purge
    status, _ = await w.call("demo", "DELETE", "/folders/ours")
    assert status == 204
    assert await listed(w, "demo") == {}
    assert set(await listed(w, "demo", trash=True)) == {"ours"}
    status, restored = await w.call("demo", "POST", "/folders/ours/restore")
    assert status == 200 and restored["status"] == "ready"
    assert set(await listed(w, "demo")) == {"ours"}
    assert (await w.call("demo", "DELETE", "/folders/ours"))[0] == 204
    status, body = await w.call("demo", "DELETE", "/folders/ours/purge")
    assert status == 204, body
    assert await listed(w, "demo", trash=True) == {}
    assert not directory.exists()


# --- names, limits, hosts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["bad\x00name", "bad\nname", "..", ".", "x" * 65, "a/b", "", "sp ace"]
)
async def test_bad_names_are_refused(world: Tenants, name: str) -> None:
    status, body = await world.call("demo", "POST", "/folders", {"name": name})
    assert status == 400, body
    assert problem(body) == "invalid-api-params"
    assert await listed(world, "demo") == {}


async def test_duplicate_name_and_dot_folders(world: Tenants) -> None:
    await make(world, "demo", ".ssh")
    status, body = await world.call("demo", "POST", "/folders", {"name": ".ssh"})
    assert status == 400 and problem(body) == "vfolder-already-exists"
    await make(world, "bob", ".ssh")  # names are per owner


async def test_quota_and_count_limits(world: Tenants) -> None:
    async with world.harness.ctx.db() as db, db.begin():
        await db.execute(
            sa.update(KeyPairResourcePolicy).values(max_vfolder_count=2, max_vfolder_size=1024)
        )
    status, body = await world.call("demo", "POST", "/folders", {"name": "big", "quota": "1m"})
    assert status == 400 and "max_vfolder_size" in body["msg"]
    small = await make(world, "demo", "small", quota="512")
    assert small["quota"] == 512
    await make(world, "demo", "second")
    status, body = await world.call("demo", "POST", "/folders", {"name": "third"})
    assert status == 400 and "max_vfolder_count" in body["msg"]
    # An upload past the folder's quota is refused before any byte is sent.
    status, body = await ticket(world, "demo", "small", "upload", {"path": "x", "size": 4096})
    assert status == 413 and problem(body) == "vfolder-quota-exceeded", body
    # Without its own quota the policy's cap (1024 bytes) applies.
    status, body = await ticket(world, "demo", "second", "upload", {"path": "x", "size": 2048})
    assert status == 413, body
    await upload(world, "demo", "second", "fits", b"x" * 1000)


async def test_host_permissions(world: Tenants) -> None:
    # carol's domain allows no vfolder host at all.
    status, body = await world.call("carol", "POST", "/folders", {"name": "mine"})
    assert status == 400 and "not allowed to use this vfolder host" in body["msg"]
    status, hosts = await world.call("carol", "GET", "/folders/_/hosts")
    assert status == 200 and hosts["allowed"] == [] and hosts["default"] is None
    await make(world, "demo", "data")
    async with world.harness.ctx.db() as db, db.begin():
        await db.execute(
            sa.update(Domain).where(Domain.name == "default")
            .values(allowed_vfolder_hosts={"local": ["create-vfolder", "download-file"]})
        )  # fmt: skip
    status, body = await ticket(world, "demo", "data", "upload", {"path": "f", "size": 1})
    assert status == 403 and "upload file" in body["msg"], body
    status, _ = await ticket(world, "demo", "data", "download", {"path": "nothing-here"})
    assert status == 404
    status, body = await world.call("demo", "DELETE", "/folders/data")
    assert status == 403 and "delete vfolder" in body["msg"]
    status, body = await world.call("demo", "POST", "/folders", {"name": "x", "host": "nowhere"})
    assert status == 400 and "not allowed to use this vfolder host" in body["msg"]


async def test_all_hosts_and_types(world: Tenants) -> None:
    status, body = await world.call("superadmin", "GET", "/folders/_/all_hosts")
    assert status == 200 and body == {"default": "local", "allowed": ["local"]}
    assert (await world.call("demo", "GET", "/folders/_/all_hosts"))[0] == 403
    assert await world.call("demo", "GET", "/folders/_/allowed_types") == (200, ["user", "group"])


# --- group folders ----------------------------------------------------------------------------


async def test_group_folder_is_for_members(world: Tenants) -> None:
    status, body = await world.call("demo", "POST", "/folders", {"name": "team", "group": "dteam"})
    assert status in (403, 404), body  # users do not create group folders
    folder = await make(world, "dadmin", "team", group="dteam", permission="ro")
    assert folder["ownership_type"] == "group" and folder["group_name"] == "dteam"
    gid = str(world.groups["default/dteam"])
    by_id = await make(world, "dadmin", "team2", group=gid)
    assert by_id["group"] == gid
    seen = await listed(world, "bob")  # bob is a member of dteam
    assert seen["team"]["permission"] == "ro" and not seen["team"]["is_owner"]
    assert await names_in(world, "bob", "team") == set()
    status, body = await ticket(world, "bob", "team", "upload", {"path": "x", "size": 1})
    assert status == 403, body  # ro: seen, not writable
    assert await listed(world, "demo") == {}  # demo is not a member
    status, body = await world.call("demo", "GET", "/folders/team")
    assert status == 404 and problem(body) == "vfolder-not-found"
    assert set(await listed(world, "bob", group_id=gid)) == {"team", "team2"}


async def test_admin_lists_all(world: Tenants) -> None:
    await make(world, "demo", "d1")
    await make(world, "bob", "b1")
    assert (await world.call("demo", "GET", "/folders", {"all": True}))[0] == 403
    assert {"d1", "b1"} <= set(await listed(world, "superadmin", all=True))
    assert {"d1", "b1"} <= set(await listed(world, "dadmin", all=True))
    assert not {"d1", "b1"} & set(await listed(world, "oadmin", all=True))


# --- trash, in use, clone, options ------------------------------------------------------------


async def _mount(w: Tenants, who: str, mounts: list[Any], status: SessionStatus) -> None:
    session = await w.create_session(who, f"mounting-{uuid.uuid4().hex[:6]}")
    async with w.harness.ctx.db() as db, db.begin():
        await db.execute(
            sa.update(Session).where(Session.id == uuid.UUID(session["sessionId"]))
            .values(vfolder_mounts=mounts, status=status)
        )  # fmt: skip


async def test_delete_refused_while_mounted(world: Tenants) -> None:
    by_name = await make(world, "demo", "byname")
    by_id = await make(world, "demo", "byid")
    await make(world, "demo", "ended")
    await _mount(world, "demo", ["byname"], SessionStatus.PENDING)
    await _mount(world, "demo", [{"name": "other", "vfid": by_id["id"]}], SessionStatus.RUNNING)
    await _mount(world, "demo", ["ended"], SessionStatus.TERMINATED)
    for name in ("byname", "byid"):
        status, body = await world.call("demo", "DELETE", f"/folders/{name}")
        assert status == 409 and problem(body) == "vfolder-in-use", body
    assert (await world.call("demo", "DELETE", "/folders/ended"))[0] == 204
    # A session of another user that mounts its own folder of the same name holds only that.
    await make(world, "bob", "free")
    await make(world, "demo", "free")
    await _mount(world, "bob", ["free"], SessionStatus.RUNNING)
    assert (await world.call("demo", "DELETE", "/folders/free"))[0] == 204
    assert (await world.call("bob", "DELETE", "/folders/free"))[0] == 409
    assert by_name["name"] == "byname"


async def test_restore_conflict_and_purge_only_trash(world: Tenants) -> None:
    by_id = await make(world, "demo", "byid")
    status, body = await world.call("bob", "DELETE", "/folders", {"id": by_id["id"]})
    assert status == 404 and problem(body) == "vfolder-not-found"
    assert (await world.call("demo", "DELETE", "/folders", {"id": by_id["id"]}))[0] == 204
    assert set(await listed(world, "demo", trash=True)) == {"byid"}
    await make(world, "demo", "twice")
    status, _ = await world.call("demo", "DELETE", "/folders/twice/purge")
    assert status == 404  # not in the trash
    assert (await world.call("demo", "DELETE", "/folders/twice"))[0] == 204
    await make(world, "demo", "twice")
    status, body = await world.call("demo", "POST", "/folders/twice/restore")
    assert status == 409, body


async def test_clone_and_options(world: Tenants) -> None:
    await make(world, "demo", "src")
    await upload(world, "demo", "src", "f.txt", b"data")
    body = {"target_name": "copy", "target_host": "local", "usage_mode": "general",
            "permission": "rw"}  # fmt: skip
    status, clone = await world.call("demo", "POST", "/folders/src/clone", body)
    assert status == 201 and clone["name"] == "copy", clone
    assert await download(world, "demo", "copy", "f.txt") == b"data"
    status, body = await world.call(
        "demo", "POST", "/folders/src/update-options", {"cloneable": True, "permission": "ro"}
    )
    assert (status, body) == (201, {})
    status, info = await world.call("demo", "GET", "/folders/src")
    assert info["cloneable"] is True and info["permission"] == "ro"
    # A folder made read-only is read-only for its owner too, until the owner changes it back.
    status, body = await world.call("demo", "POST", "/folders/src/mkdir", {"path": "x"})
    assert status == 403 and "permission there is ro" in body["msg"], body
    status, body = await world.call(
        "demo", "POST", "/folders/src/update-options", {"permission": "rw"}
    )
    assert status == 201, body
    # Files: copy, move, rename inside the folder.
    ok = (200, {})
    assert await world.call("demo", "POST", "/folders/src/copy_file",
                            {"src": "f.txt", "dst": "g.txt"}) == ok  # fmt: skip
    assert await world.call("demo", "POST", "/folders/src/mkdir", {"path": "d"}) == (201, {})
    assert await world.call("demo", "POST", "/folders/src/move-file",
                            {"src": "g.txt", "dst": "d"}) == ok  # fmt: skip
    assert await world.call("demo", "POST", "/folders/src/rename_file",
                            {"target_path": "f.txt", "new_name": "h.txt"}) == ok  # fmt: skip
    assert await names_in(world, "demo", "src") == {"d", "h.txt"}
    assert await names_in(world, "demo", "src", "d") == {"g.txt"}
    status, body = await world.call("demo", "GET", "/folders/src/files", {"path": "../x"})
    assert status == 400, body
    # The storage process's answers come back as the platform's errors.
    status, body = await world.call("demo", "POST", "/folders/src/mkdir", {"path": "d"})
    assert status == 400 and "already exists" in body["msg"], body
    status, body = await world.call("demo", "GET", "/folders/src/files", {"path": "nope"})
    assert status == 404, body
    status, body = await world.call("demo", "POST", "/folders/src/mkdir",
                                    {"path": "d", "exist_ok": True})  # fmt: skip
    assert status == 201, body
    status, body = await world.call("demo", "POST", "/folders/src/rename",
                                    {"new_name": "bad/name"})  # fmt: skip
    assert status == 400, body


# --- the storage process down or misconfigured ------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "words"),
    [({"storage_url": "http://127.0.0.1:9"}, "did not answer"),
     ({"storage_token": "a-wrong-storage-token-0123"}, "refused the manager's token")],
)  # fmt: skip
async def test_storage_unavailable_is_a_503(
    tmp_path: Path, setting: dict[str, str], words: str
) -> None:
    pytest.importorskip("backendai.storage.app")
    async with running_manager(tmp_path, **setting) as harness:
        w = await add_tenants(harness)
        for method, route, body in [("GET", "/folders/_/hosts", None),
                                    ("POST", "/folders", {"name": "x"})]:  # fmt: skip
            async with harness.client.request(
                method, route, headers=harness.headers(
                    w["demo"].access_key, w["demo"].secret_key, method, route),
                data=json.dumps(body) if body else None,
            ) as resp:  # fmt: skip
                assert resp.status == 503, await resp.text()
                assert int(resp.headers["Retry-After"]) > 0
                assert words in (await resp.json(content_type=None))["msg"]
        # Nothing was left half-made.
        assert await listed(w, "demo") == {}


MODIFY_DOMAIN = """mutation($name: String!, $input: ModifyDomainInput!) {
    modify_domain(name: $name, props: $input) { ok msg }
}"""
DOMAIN_HOSTS = '{ domain(name: "other") { allowed_vfolder_hosts } }'


async def test_admins_grant_some_permissions_on_a_host(world: Tenants) -> None:
    grant = "local:create-vfolder+download-file"
    hosts = {"name": "other", "input": {"allowed_vfolder_hosts": [grant]}}
    body = await world.gql("superadmin", MODIFY_DOMAIN, hosts)
    assert body["data"]["modify_domain"]["ok"] is True, body
    shown = await world.gql("superadmin", DOMAIN_HOSTS)
    assert shown["data"]["domain"]["allowed_vfolder_hosts"] == [grant]
    # carol (domain other) may now create and download there, not upload.
    await make(world, "carol", "granted")
    status, body = await ticket(world, "carol", "granted", "upload", {"path": "f", "size": 1})
    assert status == 403 and "upload file" in body["msg"], body
    # A grant naming an unknown permission is refused, and nothing changes.
    hosts = {"name": "other", "input": {"allowed_vfolder_hosts": ["local:fly"]}}
    body = await world.gql("superadmin", MODIFY_DOMAIN, hosts)
    assert "Unknown vfolder host permission 'fly'" in str(body), body
    shown = await world.gql("superadmin", DOMAIN_HOSTS)
    assert shown["data"]["domain"]["allowed_vfolder_hosts"] == [grant]
