"""Every /folders route that names a folder, tried by another user on demo's folder: refused
exactly like a folder that does not exist (404 vfolder-not-found) until it is shared, and then
only within the shared permission (ro: read; rw: also write; never manage)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.manager.tenants import Tenants
from tests.manager.test_vfolders import listed, make, problem, upload, world

__all__ = ["world"]

Route = tuple[str, str, Any, int]  # method, suffix after /folders/{name}, body, status if ok

READ: list[Route] = [
    ("GET", "", None, 200),
    ("GET", "/files", {"path": "."}, 200),
    ("POST", "/request-download", {"path": "f.txt"}, 200),
]
# In an order in which each succeeds for a writer.
WRITE: list[Route] = [
    ("POST", "/mkdir", {"path": "n1"}, 201),
    ("POST", "/copy_file", {"src": "f.txt", "dst": "c1.txt"}, 200),
    ("POST", "/copy-file", {"src": "f.txt", "dst": "c2.txt"}, 200),
    ("POST", "/move_file", {"src": "c1.txt", "dst": "n1"}, 200),
    ("POST", "/move-file", {"src": "c2.txt", "dst": "n1"}, 200),
    ("POST", "/rename_file", {"target_path": "n1/c1.txt", "new_name": "r1.txt"}, 200),
    ("POST", "/rename-file", {"target_path": "n1/c2.txt", "new_name": "r2.txt"}, 200),
    ("DELETE", "/delete_files", {"files": ["n1/r1.txt"], "recursive": False}, 200),
    ("DELETE", "/delete-files", {"files": ["n1/r2.txt"], "recursive": False}, 200),
    ("POST", "/request-upload", {"path": "up.txt", "size": 3}, 200),
]
MANAGE: list[Route] = [
    ("POST", "/rename", {"new_name": "renamed"}, 201),
    ("POST", "/update-options", {"cloneable": False, "permission": "rw"}, 201),
    ("POST", "/invite", {"perm": "ro", "user_ids": ["mon@example.com"]}, 201),
    ("POST", "/share", {"permission": "ro", "emails": ["mon@example.com"]}, 201),
    ("DELETE", "/unshare", {"emails": ["mon@example.com"]}, 200),
    ("POST", "/clone", {"target_name": "stolen", "usage_mode": "general", "permission": "rw"},
     201),
    ("DELETE", "", None, 204),
]  # fmt: skip
TRASH: list[Route] = [("POST", "/restore", None, 200), ("DELETE", "/purge", None, 204)]
EVERY = READ + WRITE + MANAGE + [("POST", "/leave", None, 200)]


async def _try(w: Tenants, who: str, ref: str, route: Route) -> tuple[int, Any]:
    method, suffix, body, _ = route
    return await w.call(who, method, f"/folders/{ref}{suffix}", body)


async def _as_missing(w: Tenants, who: str, ref: str, routes: list[Route]) -> None:
    for route in routes:
        status, body = await _try(w, who, ref, route)
        ghost_status, ghost = await _try(w, who, "no-such-folder", route)
        assert (status, problem(body)) == (404, "vfolder-not-found"), (route, body)
        assert (ghost_status, problem(ghost)) == (404, "vfolder-not-found"), (route, ghost)
        # The same words, but for the name typed: nothing tells the folder exists.
        assert body["title"] == ghost["title"]
        assert body["msg"].replace(ref, "X") == ghost["msg"].replace("no-such-folder", "X")


@pytest.fixture
async def private(world: Tenants) -> dict[str, Any]:
    folder = await make(world, "demo", "private")
    await upload(world, "demo", "private", "f.txt", b"demo's data")
    return folder


@pytest.mark.parametrize("who", ["bob", "carol", "mon", "dadmin2"])
async def test_unshared_folder_is_missing_to_others(
    world: Tenants, private: dict[str, Any], who: str
) -> None:
    if who == "dadmin2":  # an admin of the domain manages it: the contrast case
        status, _ = await world.call(who, "GET", f"/folders/{private['id']}")
        assert status == 200
        return
    assert "private" not in await listed(world, who)
    for ref in ("private", private["id"]):
        await _as_missing(world, who, ref, EVERY)
    status, body = await world.call(who, "GET", "/folders", {"all": True})
    if who == "mon":  # a monitor lists everything, and reaches nothing inside
        assert status == 200 and private["id"] in {f["id"] for f in body}
    assert (await world.call("demo", "DELETE", "/folders/private"))[0] == 204
    await _as_missing(world, who, private["id"], TRASH)
    assert (await world.call("demo", "POST", "/folders/private/restore"))[0] == 200


async def test_read_only_share_allows_reading_only(world: Tenants, private: dict[str, Any]) -> None:
    body = {"permission": "ro", "emails": [world["bob"].email]}
    assert (await world.call("demo", "POST", "/folders/private/share", body))[0] == 201
    for route in READ:
        status, answer = await _try(world, "bob", "private", route)
        assert status == route[3], (route, answer)
    for route in WRITE + MANAGE:
        status, answer = await _try(world, "bob", "private", route)
        assert (status, problem(answer)) == (403, "insufficient-privilege"), (route, answer)
    # Still missing to everyone else.
    await _as_missing(world, "carol", "private", READ)


async def test_read_write_share_allows_writing_not_managing(
    world: Tenants, private: dict[str, Any]
) -> None:
    body = {"permission": "rw", "emails": [world["bob"].email]}
    assert (await world.call("demo", "POST", "/folders/private/share", body))[0] == 201
    for route in READ + WRITE:
        status, answer = await _try(world, "bob", "private", route)
        assert status == route[3], (route, answer)
    for route in MANAGE:
        status, answer = await _try(world, "bob", "private", route)
        assert (status, problem(answer)) == (403, "insufficient-privilege"), (route, answer)
    assert (await world.call("bob", "DELETE", "/folders/private"))[0] == 403
    await _as_missing(world, "bob", "private", TRASH)  # not in the trash, and not bob's


async def test_owner_does_everything(world: Tenants, private: dict[str, Any]) -> None:
    """The same routes succeed for the owner (what the refusals above are measured against)."""
    for route in READ + WRITE + MANAGE[:-1]:
        status, answer = await _try(world, "demo", "private", route)
        assert status == route[3], (route, answer)
        if route[1] == "/rename":
            status, _ = await world.call("demo", "POST", "/folders/renamed/rename",
                                         {"new_name": "private"})  # fmt: skip
            assert status == 201
    status, _ = await _try(world, "demo", "private", MANAGE[-1])
    assert status == 204
    for route in TRASH:
        status, answer = await _try(world, "demo", "private", route)
        assert status == route[3], (route, answer)
        if route[1] == "/restore":
            assert (await world.call("demo", "DELETE", "/folders/private"))[0] == 204
