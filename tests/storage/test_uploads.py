"""tus 1.0 uploads as the official client sends them: PATCH loop, HEAD to resume, quotas."""

from __future__ import annotations

import asyncio
import os
import uuid
from urllib.parse import urlsplit

import pytest

from backendai.common import storage_protocol as sp
from tests.storage.conftest import Storage

UPLOADS = ".uploads"


def _temp_files(storage: Storage) -> list[str]:
    return os.listdir(storage.root / UPLOADS)


async def _head_offset(storage: Storage, url: str) -> int:
    resp = await storage.client.head(url)
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Tus-Resumable"] == "1.0.0"
    return int(resp.headers["Upload-Offset"])


async def test_upload_cut_halfway_resumes_from_head_offset(storage: Storage) -> None:
    vfid = await storage.folder()
    data = os.urandom(1_000_000)
    url = await storage.ticket(sp.ROUTE_FILE_UPLOAD, vfid, "dir/big.bin", size=len(data))
    # A client that declares the whole body, sends half of it, and loses its connection.
    host = urlsplit(str(storage.client.make_url("/")))
    _, writer = await asyncio.open_connection(host.hostname, host.port)
    writer.write(
        f"PATCH {url} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
        .encode() + data[:400_000]
    )  # fmt: skip
    await writer.drain()
    await asyncio.sleep(0.5)  # the server has read what was sent
    writer.close()
    offset = 0
    for _ in range(100):
        offset = await _head_offset(storage, url)
        if offset == 400_000:
            break
        await asyncio.sleep(0.05)
    assert offset == 400_000
    assert not (storage.dir(vfid) / "dir" / "big.bin").exists()  # never a partial target
    resp = await storage.patch(url, offset, data[offset:])
    assert resp.status == 204
    assert resp.headers["Upload-Offset"] == str(len(data))
    assert resp.headers["Tus-Resumable"] == "1.0.0"
    assert (storage.dir(vfid) / "dir" / "big.bin").read_bytes() == data
    assert _temp_files(storage) == []
    assert await _head_offset(storage, url) == len(data)


async def test_offset_mismatch_is_409_with_the_real_offset(storage: Storage) -> None:
    vfid = await storage.folder()
    url = await storage.ticket(sp.ROUTE_FILE_UPLOAD, vfid, "f", size=10)
    assert (await storage.patch(url, 0, b"12345")).status == 204
    resp = await storage.patch(url, 0, b"12345")
    assert resp.status == 409
    assert resp.headers["Upload-Offset"] == "5"
    assert "offset 5" in (await resp.json())["msg"]
    assert (await storage.patch(url, 5, b"67890")).status == 204
    assert (storage.dir(vfid) / "f").read_bytes() == b"1234567890"


async def test_bytes_beyond_the_declared_size_are_413(storage: Storage) -> None:
    vfid = await storage.folder()
    url = await storage.ticket(sp.ROUTE_FILE_UPLOAD, vfid, "f", size=4)
    resp = await storage.patch(url, 0, b"123456")
    assert resp.status == 413
    assert await _head_offset(storage, url) == 0
    assert not (storage.dir(vfid) / "f").exists()


async def test_zero_byte_file_exists_at_ticket_time(storage: Storage) -> None:
    vfid = await storage.folder()
    url = await storage.ticket(sp.ROUTE_FILE_UPLOAD, vfid, "sub/empty", size=0)
    assert (storage.dir(vfid) / "sub" / "empty").read_bytes() == b""
    assert await _head_offset(storage, url) == 0
    assert _temp_files(storage) == []


async def test_options_and_content_type(storage: Storage) -> None:
    resp = await storage.client.options(sp.ROUTE_UPLOAD)
    assert resp.headers["Tus-Version"] == "1.0.0"
    assert "Tus-Extension" in resp.headers
    vfid = await storage.folder()
    url = await storage.ticket(sp.ROUTE_FILE_UPLOAD, vfid, "f", size=3)
    resp = await storage.client.patch(
        url, data=b"abc", headers={"Upload-Offset": "0", "Content-Type": "text/plain"}
    )
    assert resp.status == 415


async def test_quota_refused_at_ticket_time(storage: Storage, quota_storage: Storage) -> None:
    vfid = await storage.folder()
    (storage.dir(vfid) / "old").write_bytes(b"x" * 8192)
    doc = await storage.call(
        sp.ROUTE_FILE_UPLOAD, 413, volume="local", vfid=str(vfid), path="f", size=10_000,
        quota_bytes=16_384,
    )  # fmt: skip
    assert doc["type"].endswith("vfolder-quota-exceeded")
    assert "quota" in doc["msg"]
    assert not (storage.dir(vfid) / "f").exists()
    # The volume's own quota (1 MiB for all folders) counts too.
    vf2 = await quota_storage.folder()
    doc = await quota_storage.call(
        sp.ROUTE_FILE_UPLOAD, 413, volume="local", vfid=str(vf2), path="f", size=2 << 20
    )
    assert "volume" in doc["msg"]
    assert not (quota_storage.root / UPLOADS).exists() or _temp_files(quota_storage) == []


async def test_quota_exceeded_mid_upload_drops_the_data(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("backendai.storage.context.USAGE_MAX_AGE_S", 0.1)
    vfid = await storage.folder()
    (storage.dir(vfid) / "f").write_bytes(b"previous")
    size, chunk = 600_000, 50_000
    url = await storage.ticket(sp.ROUTE_FILE_UPLOAD, vfid, "f", size=size, quota_bytes=1_000_000)
    assert (await storage.patch(url, 0, b"a" * chunk)).status == 204
    # A session fills the folder meanwhile.
    (storage.dir(vfid) / "filler").write_bytes(os.urandom(500_000))
    offset, status = chunk, 204
    while offset < size:
        await asyncio.sleep(0.15)
        resp = await storage.patch(url, offset, b"a" * chunk)
        status = resp.status
        if status != 204:
            break
        offset += chunk
    assert status == 413
    doc = await resp.json()
    assert doc["type"].endswith("vfolder-quota-exceeded")
    assert "cancelled" in doc["msg"]
    assert (storage.dir(vfid) / "f").read_bytes() == b"previous"  # target untouched
    assert _temp_files(storage) == []
    assert (await storage.client.head(url)).status == 404


async def test_two_uploads_have_separate_temp_files(storage: Storage) -> None:
    vfid = await storage.folder()
    a = await storage.ticket(sp.ROUTE_FILE_UPLOAD, vfid, "a", size=3)
    b = await storage.ticket(sp.ROUTE_FILE_UPLOAD, vfid, "b", size=3)
    assert len(_temp_files(storage)) == 2
    assert (await storage.patch(b, 0, b"bbb")).status == 204
    assert (await storage.patch(a, 0, b"aaa")).status == 204
    assert (storage.dir(vfid) / "a").read_bytes() == b"aaa"
    assert (storage.dir(vfid) / "b").read_bytes() == b"bbb"
    assert uuid.UUID(int=0) != vfid
