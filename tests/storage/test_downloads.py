"""Downloads: Content-Length, Range and If-Range, and never a torn file."""

from __future__ import annotations

import asyncio
import hashlib
import os

import aiohttp
import pytest

from backendai.common import storage_protocol as sp
from tests.storage.conftest import Storage

BIG = 48 << 20  # larger than what socket buffers hold, so the transfer is still running


async def _big_file(storage: Storage) -> tuple[object, bytes, str]:
    vfid = await storage.folder()
    data = os.urandom(BIG)
    (storage.dir(vfid) / "big").write_bytes(data)
    url = await storage.ticket(sp.ROUTE_FILE_DOWNLOAD, vfid, "big")
    return vfid, data, url


async def test_download_headers_and_range_resume(storage: Storage) -> None:
    vfid = await storage.folder()
    data = os.urandom(3_000_000)
    (storage.dir(vfid) / "f.bin").write_bytes(data)
    url = await storage.ticket(sp.ROUTE_FILE_DOWNLOAD, vfid, "f.bin")
    head = await storage.client.head(url)
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(data))
    etag = head.headers["ETag"]
    # A first attempt that stopped after 1,234,567 bytes, then a resume with Range + If-Range.
    resp = await storage.client.get(url)
    assert resp.headers["Content-Length"] == str(len(data))
    assert "Transfer-Encoding" not in resp.headers
    assert 'filename="f.bin"' in resp.headers["Content-Disposition"]
    first = await resp.content.readexactly(1_234_567)
    resp.close()
    rest = await storage.client.get(url, headers={"Range": "bytes=1234567-", "If-Range": etag})
    assert rest.status == 206
    assert rest.headers["Content-Range"] == f"bytes 1234567-{len(data) - 1}/{len(data)}"
    body = first + await rest.read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest()
    # A bounded range, a suffix range, and an unsatisfiable one.
    part = await storage.client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status == 206 and await part.read() == data[10:20]
    tail = await storage.client.get(url, headers={"Range": "bytes=-5"})
    assert await tail.read() == data[-5:]
    bad = await storage.client.get(url, headers={"Range": "bytes=9999999-"})
    assert bad.status == 416
    assert bad.headers["Content-Range"] == f"bytes */{len(data)}"


async def test_if_range_with_a_changed_file_answers_whole(storage: Storage) -> None:
    vfid = await storage.folder()
    (storage.dir(vfid) / "f").write_bytes(b"version one")
    url = await storage.ticket(sp.ROUTE_FILE_DOWNLOAD, vfid, "f")
    etag = (await storage.client.head(url)).headers["ETag"]
    await storage.upload(vfid, "f", b"version two!")
    resp = await storage.client.get(url, headers={"Range": "bytes=8-", "If-Range": etag})
    assert resp.status == 200
    assert await resp.read() == b"version two!"
    assert resp.headers["ETag"] != etag


async def test_download_during_replacement_sends_the_old_bytes_whole(storage: Storage) -> None:
    vfid, data, url = await _big_file(storage)
    resp = await storage.client.get(url)
    first = await resp.content.readexactly(1 << 20)
    new = os.urandom(1 << 20)
    await storage.upload(vfid, "big", new)  # renamed onto the path mid-transfer
    body = first + await resp.read()
    assert len(body) == len(data)
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    assert await storage.download(vfid, "big") == new


async def test_download_during_in_place_modification_is_cut(storage: Storage) -> None:
    vfid, _, url = await _big_file(storage)
    resp = await storage.client.get(url)
    first = await resp.content.readexactly(1 << 20)
    await asyncio.sleep(0.05)  # past the filesystem's timestamp granularity
    with (storage.dir(vfid) / "big").open("r+b") as f:
        f.seek(BIG - 10)
        f.write(b"0123456789")  # what a session writing into the file would do
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()
    assert len(first) == 1 << 20


async def test_missing_file_at_ticket_time(storage: Storage) -> None:
    vfid = await storage.folder()
    doc = await storage.call(
        sp.ROUTE_FILE_DOWNLOAD, 404, volume="local", vfid=str(vfid), path="nope"
    )
    assert doc["type"].endswith("not-found")


async def test_empty_file_round_trip(storage: Storage) -> None:
    vfid = await storage.folder()
    await storage.upload(vfid, "empty", b"")
    url = await storage.ticket(sp.ROUTE_FILE_DOWNLOAD, vfid, "empty")
    resp = await storage.client.get(url)
    assert resp.status == 200
    assert resp.headers["Content-Length"] == "0"
    assert await resp.read() == b""
