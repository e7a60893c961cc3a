"""Every way out of a folder is refused: "..", absolute paths, NUL, control characters, and
symlinks (made inside a session, pointing anywhere) that no operation ever follows."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from backendai.common import storage_protocol as sp
from tests.storage.conftest import Storage

ESCAPES = ["../x", "a/../../x", "/etc/passwd", "a/\0b", "..", "a/.."]


async def _problem(storage: Storage, route: str, status: int, **body: object) -> dict[str, str]:
    doc: dict[str, str] = await storage.call(route, status, volume="local", **body)
    assert doc["type"].startswith("https://api.backend.ai/probs/")
    return doc


@pytest.mark.parametrize("path", ESCAPES)
async def test_escaping_paths_are_refused_everywhere(storage: Storage, path: str) -> None:
    vfid = str(await storage.folder())
    for route, body in [
        (sp.ROUTE_FILE_LIST, {"path": path}),
        (sp.ROUTE_FILE_MKDIR, {"path": path}),
        (sp.ROUTE_FILE_DELETE, {"paths": [path]}),
        (sp.ROUTE_FILE_MOVE, {"src": path, "dst": "."}),
        (sp.ROUTE_FILE_MOVE, {"src": "x", "dst": path}),
        (sp.ROUTE_FILE_COPY, {"src": path, "dst": "."}),
        (sp.ROUTE_FILE_UPLOAD, {"path": path, "size": 3}),
        (sp.ROUTE_FILE_DOWNLOAD, {"path": path}),
    ]:
        doc = await _problem(storage, route, 400, vfid=vfid, **body)
        assert doc["type"].endswith("invalid-api-params"), (route, doc)
    # Nothing was made next to the folder, nor in it.
    assert sorted(os.listdir(storage.dir(uuid.UUID(vfid)))) == []


@pytest.mark.parametrize("name", ["new\nline", "tab\there", "bell\x07"])
async def test_control_characters_in_new_names_are_refused(storage: Storage, name: str) -> None:
    vfid = await storage.folder()
    for route, body in [
        (sp.ROUTE_FILE_MKDIR, {"path": name}),
        (sp.ROUTE_FILE_UPLOAD, {"path": f"d/{name}", "size": 1}),
    ]:
        doc = await _problem(storage, route, 400, vfid=str(vfid), **body)
        assert "control characters" in doc["msg"]
    assert os.listdir(storage.dir(vfid)) == []


async def test_overlong_path_is_refused(storage: Storage) -> None:
    vfid = str(await storage.folder())
    doc = await _problem(storage, sp.ROUTE_FILE_MKDIR, 400, vfid=vfid, path="a" * 300)
    assert "255" in doc["msg"]
    doc = await _problem(storage, sp.ROUTE_FILE_LIST, 400, vfid=vfid, path="a/" * 2100)
    assert doc["type"].endswith("invalid-api-params")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret").write_text("top secret")
    return d


async def test_symlinks_made_in_a_session_are_never_followed(
    storage: Storage, outside: Path
) -> None:
    vfid = await storage.folder()
    folder = storage.dir(vfid)
    # What a session could do inside its mount: links to outside, to a file, to a dir.
    (folder / "out").symlink_to(outside)
    (folder / "secret-link").symlink_to(outside / "secret")
    (folder / "inside").mkdir()
    (folder / "inside-link").symlink_to("inside")
    v = str(vfid)

    async def refused(route: str, status: int = 400, **body: object) -> None:
        await _problem(storage, route, status, vfid=v, **body)

    await refused(sp.ROUTE_FILE_LIST, path="out")
    await refused(sp.ROUTE_FILE_LIST, path="inside-link")  # even a link that stays inside
    await refused(sp.ROUTE_FILE_DOWNLOAD, path="secret-link")
    await refused(sp.ROUTE_FILE_DOWNLOAD, path="out/secret")
    await refused(sp.ROUTE_FILE_UPLOAD, path="out/new", size=4)
    await refused(sp.ROUTE_FILE_MKDIR, path="out/newdir")
    await refused(sp.ROUTE_FILE_DELETE, paths=["out/secret"])
    await refused(sp.ROUTE_FILE_MOVE, src="out/secret", dst=".")
    await refused(sp.ROUTE_FILE_COPY, src="out/secret", dst=".")
    await refused(sp.ROUTE_FILE_COPY, src="inside", dst="out")  # dst exists: not followed
    await refused(sp.ROUTE_FILE_MOVE, src="inside", dst="out")
    # Removing the link removes the link, and a recursive delete does not enter it.
    await storage.call(sp.ROUTE_FILE_DELETE, volume="local", vfid=v, paths=["out"], recursive=True)
    assert not (folder / "out").is_symlink()
    assert (outside / "secret").read_text() == "top secret"
    # Copying a directory that holds a link copies the link, not what it points at.
    (folder / "inside" / "esc").symlink_to(outside)
    await storage.call(sp.ROUTE_FILE_COPY, volume="local", vfid=v, src="inside", dst="copy")
    assert os.readlink(folder / "copy" / "esc") == str(outside)
    # The listing shows links as links.
    items = (await storage.call(sp.ROUTE_FILE_LIST, volume="local", vfid=v))["items"]
    kinds = {i["name"]: i["type"] for i in items}
    assert kinds == {"copy": "DIRECTORY", "inside": "DIRECTORY", "inside-link": "SYMLINK",
                     "secret-link": "SYMLINK"}  # fmt: skip
    assert sorted(os.listdir(outside)) == ["secret"]


async def test_upload_onto_a_symlink_replaces_the_link_not_its_target(
    storage: Storage, outside: Path
) -> None:
    vfid = await storage.folder()
    (storage.dir(vfid) / "link").symlink_to(outside / "secret")
    await storage.upload(vfid, "link", b"mine")
    assert (outside / "secret").read_text() == "top secret"
    assert not (storage.dir(vfid) / "link").is_symlink()
    assert (storage.dir(vfid) / "link").read_bytes() == b"mine"


async def test_a_symlinked_folder_directory_is_not_followed(
    storage: Storage, outside: Path
) -> None:
    vfid = uuid.uuid4()
    target = storage.dir(vfid)
    target.parent.mkdir(parents=True)
    target.symlink_to(outside)
    doc = await _problem(storage, sp.ROUTE_FILE_LIST, 400, vfid=str(vfid), path=".")
    assert "symbolic links" in doc["msg"]


async def test_fifo_download_is_refused_without_hanging(storage: Storage) -> None:
    vfid = await storage.folder()
    os.mkfifo(storage.dir(vfid) / "pipe")
    doc = await _problem(storage, sp.ROUTE_FILE_DOWNLOAD, 400, vfid=str(vfid), path="pipe")
    assert "not a regular file" in doc["msg"]
    # And with a ticket made while it was a regular file, then swapped for a FIFO.
    (storage.dir(vfid) / "f").write_text("x")
    url = await storage.ticket(sp.ROUTE_FILE_DOWNLOAD, vfid, "f")
    (storage.dir(vfid) / "f").unlink()
    os.mkfifo(storage.dir(vfid) / "f")
    resp = await storage.client.get(url, timeout=5)
    assert resp.status == 400
    assert "not a regular file" in (await resp.json())["msg"]


async def test_directory_download_is_refused(storage: Storage) -> None:
    vfid = await storage.folder()
    (storage.dir(vfid) / "d").mkdir()
    doc = await _problem(storage, sp.ROUTE_FILE_DOWNLOAD, 400, vfid=str(vfid), path="d")
    assert "a directory" in doc["msg"]
