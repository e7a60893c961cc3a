"""Folder and file operations of the manager-facing routes, deep trees included."""

from __future__ import annotations

import os
import uuid

from backendai.common import storage_protocol as sp
from tests.storage.conftest import TOKEN, Storage

DEPTH = 1100


def _deep_tree(top: str) -> None:
    """``DEPTH`` nested directories with a file at the bottom, made by descriptor (the path
    is far beyond PATH_MAX)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(DEPTH):
            os.mkdir("d", dir_fd=fd)
            nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        leaf = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, b"x" * 5000)
        os.close(leaf)
    finally:
        os.close(fd)


async def test_deep_tree_usage_clone_and_recursive_delete(storage: Storage) -> None:
    vfid = await storage.folder()
    (storage.dir(vfid) / "deep").mkdir()
    _deep_tree(str(storage.dir(vfid) / "deep"))
    usage = await storage.call(sp.ROUTE_FOLDER_USAGE, volume="local", vfid=str(vfid))
    assert usage["file_count"] == 1
    assert usage["used_bytes"] >= 5000 + DEPTH * 4096  # du counts every level's directory
    clone = uuid.uuid4()
    cloned = await storage.call(
        sp.ROUTE_FOLDER_CLONE,
        src={"volume": "local", "vfid": str(vfid)},
        dst={"volume": "local", "vfid": str(clone)},
    )
    assert cloned["file_count"] == 1
    await storage.call(
        sp.ROUTE_FILE_DELETE, volume="local", vfid=str(vfid), paths=["deep"], recursive=True
    )
    assert os.listdir(storage.dir(vfid)) == []
    await storage.call(sp.ROUTE_FOLDER_DELETE, volume="local", vfid=str(clone))
    assert not storage.dir(clone).exists()


async def test_file_operations(storage: Storage) -> None:
    vfid = await storage.folder()
    v = {"volume": "local", "vfid": str(vfid)}
    await storage.call(sp.ROUTE_FILE_MKDIR, path="a/b/c", **v)
    dup = await storage.call(sp.ROUTE_FILE_MKDIR, 400, path="a/b", **v)
    assert "already exists" in dup["msg"]
    await storage.call(sp.ROUTE_FILE_MKDIR, path="a/b", exist_ok=True, **v)
    await storage.call(sp.ROUTE_FILE_MKDIR, 404, path="x/y", parents=False, **v)
    await storage.upload(vfid, "a/f.txt", b"data")
    await storage.call(sp.ROUTE_FILE_MOVE, src="a/f.txt", dst="a/b", **v)  # into a directory
    await storage.call(sp.ROUTE_FILE_MOVE, src="a/b/f.txt", dst="g.txt", **v)  # a new name
    await storage.call(sp.ROUTE_FILE_COPY, src="g.txt", dst="a", **v)
    await storage.call(sp.ROUTE_FILE_COPY, src="a", dst="a2", **v)
    into_itself = await storage.call(sp.ROUTE_FILE_MOVE, 400, src="a", dst="a/b", **v)
    assert "itself" in into_itself["msg"]
    listing = await storage.call(sp.ROUTE_FILE_LIST, path=".", **v)
    assert [i["name"] for i in listing["items"]] == ["a", "a2", "g.txt"]
    assert (storage.dir(vfid) / "a2" / "g.txt").read_bytes() == b"data"
    not_empty = await storage.call(sp.ROUTE_FILE_DELETE, 400, paths=["a2"], **v)
    assert "recursively" in not_empty["msg"]
    await storage.call(sp.ROUTE_FILE_DELETE, paths=["a2", "g.txt"], recursive=True, **v)
    assert sorted(os.listdir(storage.dir(vfid))) == ["a"]
    if os.geteuid() == 0:  # sessions (uid 65000) must be able to write what we made
        assert (storage.dir(vfid) / "a" / "b").stat().st_uid == 65000
        assert (storage.dir(vfid) / "a" / "g.txt").stat().st_uid == 65000
    gone = await storage.call(sp.ROUTE_FILE_LIST, 404, volume="local", vfid=str(uuid.uuid4()))
    assert gone["type"].endswith("not-found")


async def test_volumes_and_the_storage_token(storage: Storage) -> None:
    doc = await storage.call(sp.ROUTE_VOLUMES)
    assert [v["name"] for v in doc["volumes"]] == ["local"]
    assert doc["volumes"][0]["backend"] == "vfs"
    assert doc["volumes"][0]["capacity_bytes"] > 0
    for headers in ({}, {sp.STORAGE_TOKEN_HEADER: TOKEN + "x"}):
        resp = await storage.client.post(sp.ROUTE_VOLUMES, json={}, headers=headers)
        assert resp.status == 401
        assert (await resp.json())["type"].endswith("auth-failed")
    bad = await storage.call(sp.ROUTE_FOLDER_CREATE, 400, volume="local", vfid="nope")
    assert "vfid" in bad["msg"]
    unknown = await storage.call(sp.ROUTE_FOLDER_CREATE, 404, volume="nfs", vfid=str(uuid.uuid4()))
    assert "nfs" in unknown["msg"]
