"""The webserver's ``/storage`` relay: tus uploads and ranged downloads pass through to the
configured storage only, streamed both ways, refusals and cut transfers passed on as such.

A small fake storage (tus 1.0 and ranged GET as ``backendai.storage`` speaks them) stands
behind a real webserver app; both run on aiohttp test servers.
"""

from __future__ import annotations

import hashlib
import json
import socket
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from backendai.webserver.app import create_app as create_webserver_app
from backendai.webserver.settings import WebserverSettings

PROBS = "https://api.backend.ai/probs/"
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_TYPE = "application/offset+octet-stream"
FILE = bytes(range(256)) * 4096  # 1 MiB the fake storage serves
BIG = 64 * 1024 * 1024
MIB = 1024 * 1024


def problem(status: int, code: str, msg: str) -> web.Response:
    body = {"type": PROBS + code, "title": code, "msg": msg}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/problem+json"
    )


@dataclass
class FakeStorage:
    size: int = 0
    data: bytearray = field(default_factory=bytearray)
    big_digest: Any = field(default_factory=hashlib.sha256)
    big_received: int = 0
    largest_read: int = 0
    requests: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("PATCH", "/upload", self.patch)
        app.router.add_route("HEAD", "/upload", self.head)
        app.router.add_route("OPTIONS", "/upload", self.options)
        app.router.add_get("/download", self.download)
        app.router.add_route("*", "/{tail:.*}", self.anything)
        return app

    async def anything(self, request: web.Request) -> web.Response:
        self.requests.append(f"{request.method} {request.path_qs}")
        return problem(404, "not-found", f"no route {request.path}")

    def _tus(self, offset: int) -> dict[str, str]:
        return TUS | {"Upload-Offset": str(offset), "Upload-Length": str(self.size)}

    async def head(self, request: web.Request) -> web.Response:
        self.requests.append(f"HEAD {request.path_qs}")
        if request.query.get("token") != "up":
            return problem(401, "invalid-token", "The transfer token is invalid or expired.")
        return web.Response(
            status=200, headers=self._tus(len(self.data)) | {"Cache-Control": "no-store"}
        )

    async def options(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers=TUS | {"Tus-Version": "1.0.0"})

    async def patch(self, request: web.Request) -> web.Response:
        self.requests.append(f"PATCH {request.path_qs}")
        token = request.query.get("token")
        if token not in ("up", "big"):
            return problem(401, "invalid-token", "The transfer token is invalid or expired.")
        if request.content_type != OFFSET_TYPE:
            return problem(415, "unsupported-media-type", f"A PATCH body must be {OFFSET_TYPE}.")
        offset = int(request.headers["Upload-Offset"])
        if token == "big":
            while chunk := await request.content.readany():
                self.largest_read = max(self.largest_read, len(chunk))
                self.big_digest.update(chunk)
                self.big_received += len(chunk)
            return web.Response(status=204, headers=TUS | {"Upload-Offset": str(self.big_received)})
        if offset != len(self.data):
            return web.Response(status=409, headers=self._tus(len(self.data)))
        if request.content_length is None:
            return problem(400, "invalid-api-params", "a PATCH needs a Content-Length")
        async for chunk in request.content.iter_chunked(64 * 1024):
            self.data += chunk
        return web.Response(status=204, headers=self._tus(len(self.data)))

    async def download(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path_qs}")
        token = request.query.get("token")
        if token == "redirect":
            raise web.HTTPTemporaryRedirect(location=str(request.query.get("to")))
        if token == "big":
            big = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
            big.content_length = BIG
            await big.prepare(request)
            block = b"\x5a" * MIB
            for _ in range(BIG // MIB):
                await big.write(block)
            await big.write_eof()
            return big
        if token not in ("down", "cut"):
            return problem(401, "invalid-token", "The transfer token is invalid or expired.")
        headers = {
            "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
            "Content-Disposition": 'attachment; filename="f.bin"', "ETag": '"e1"',
            "X-Internal-Secret": "not for browsers",
        }  # fmt: skip
        start, end, status = 0, len(FILE) - 1, 200
        wanted = request.headers.get("Range")
        if wanted:
            first, _, last = wanted.removeprefix("bytes=").partition("-")
            start, end, status = int(first), int(last), 206
            headers["Content-Range"] = f"bytes {start}-{end}/{len(FILE)}"
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = end - start + 1
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        if token == "cut":
            await response.write(FILE[: 256 * 1024])
            assert request.transport is not None
            request.transport.abort()
            return response
        await response.write(FILE[start : end + 1])
        await response.write_eof()
        return response


@dataclass
class Relay:
    client: TestClient[Any, Any]
    storage: FakeStorage
    elsewhere: FakeStorage
    elsewhere_url: str


async def _server(app: web.Application) -> TestServer:
    server = TestServer(app)
    await server.start_server()
    return server


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    storage, elsewhere = FakeStorage(), FakeStorage()
    storage_server = await _server(storage.app())
    elsewhere_server = await _server(elsewhere.app())
    settings = WebserverSettings(
        manager_url="http://127.0.0.1:9", storage_url=str(storage_server.make_url("/"))
    )
    client: TestClient[Any, Any] = TestClient(TestServer(create_webserver_app(settings)))
    await client.start_server()
    try:
        yield Relay(client, storage, elsewhere, str(elsewhere_server.make_url("/")))
    finally:
        await client.close()
        await storage_server.close()
        await elsewhere_server.close()


async def test_tus_upload_in_chunks_with_head_offset(relay: Relay) -> None:
    body = bytes(range(256)) * 12 * 1024  # 3 MiB
    relay.storage.size = len(body)
    options = await relay.client.options("/storage/upload")
    assert options.status == 204
    assert options.headers["Tus-Version"] == "1.0.0"
    offset, chunk = 0, 1024 * 1024
    while offset < len(body):
        resp = await relay.client.patch(
            "/storage/upload",
            params={"token": "up"},
            data=body[offset : offset + chunk],
            headers=TUS | {"Upload-Offset": str(offset), "Content-Type": OFFSET_TYPE},
        )
        assert resp.status == 204, await resp.text()
        offset = int(resp.headers["Upload-Offset"])
        head = await relay.client.head("/storage/upload", params={"token": "up"})
        assert head.status == 200
        assert int(head.headers["Upload-Offset"]) == offset
        assert head.headers["Upload-Length"] == str(len(body))
    assert bytes(relay.storage.data) == body
    # A stale offset gets the storage's 409 with the offset to resume from.
    stale = await relay.client.patch(
        "/storage/upload", params={"token": "up"}, data=b"x",
        headers=TUS | {"Upload-Offset": "0", "Content-Type": OFFSET_TYPE},
    )  # fmt: skip
    assert stale.status == 409
    assert stale.headers["Upload-Offset"] == str(len(body))


async def test_ranged_download(relay: Relay) -> None:
    whole = await relay.client.get("/storage/download", params={"token": "down"})
    assert whole.status == 200
    assert await whole.read() == FILE
    assert whole.headers["Content-Disposition"] == 'attachment; filename="f.bin"'
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert "X-Internal-Secret" not in whole.headers  # only the transfer's headers pass
    part = await relay.client.get(
        "/storage/download", params={"token": "down"}, headers={"Range": "bytes=1000-1999"}
    )
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(FILE)}"
    assert await part.read() == FILE[1000:2000]
    head = await relay.client.head("/storage/download", params={"token": "down"})
    assert head.status == 200
    assert head.headers["Content-Length"] == str(len(FILE))


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/storage/download"), ("PATCH", "/storage/upload"), ("HEAD", "/storage/upload")],
)
async def test_bad_token_refusal_passes_through(relay: Relay, method: str, path: str) -> None:
    headers = TUS | {"Upload-Offset": "0", "Content-Type": OFFSET_TYPE}
    resp = await relay.client.request(
        method, path, params={"token": "forged"}, data=b"abc" if method == "PATCH" else None,
        headers=headers,
    )  # fmt: skip
    assert resp.status == 401
    if method != "HEAD":
        assert resp.headers["Content-Type"].startswith("application/problem+json")
        body = await resp.json(content_type=None)
        assert body["type"] == PROBS + "invalid-token"
        assert "invalid or expired" in body["msg"]


async def test_relay_goes_only_to_the_configured_storage(relay: Relay) -> None:
    elsewhere = relay.elsewhere_url
    host = elsewhere.split("//", 1)[1].rstrip("/")
    attempts = [
        ("GET", f"/storage/download?token=down&url={elsewhere}download"),
        ("GET", f"/storage/download?token=redirect&to={elsewhere}download?token=down"),
        ("GET", f"/storage/{elsewhere}download?token=down"),
        ("GET", f"/storage//{host}/download?token=down"),
        ("GET", "/storage/download/../../download?token=down"),
        ("GET", "/storage/other?token=down"),
        ("POST", "/storage/upload?token=up"),
        ("PUT", "/storage/download?token=down"),
    ]
    for method, path in attempts:
        resp = await relay.client.request(
            method, path, headers={"Host": host}, allow_redirects=False
        )
        await resp.read()
        assert "Location" not in resp.headers, path
        assert resp.status in (200, 307, 404, 405), (path, resp.status)
    assert relay.elsewhere.requests == []
    # What did arrive went to the configured storage, on its two routes only.
    assert relay.storage.requests
    assert all(r.split()[1].startswith(("/download", "/upload")) for r in relay.storage.requests)


async def test_cut_upstream_download_cuts_the_response(relay: Relay) -> None:
    resp = await relay.client.get("/storage/download", params={"token": "cut"})
    assert resp.status == 200
    assert resp.headers["Content-Length"] == str(len(FILE))
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()


async def test_big_bodies_stream_through_with_bounded_memory(relay: Relay) -> None:
    sent = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        block = bytes(range(256)) * 4096
        for i in range(BIG // MIB):
            chunk = block[i % 256 :] + block[: i % 256]
            sent.update(chunk)
            yield chunk

    tracemalloc.start()
    try:
        resp = await relay.client.patch(
            "/storage/upload", params={"token": "big"}, data=body(),
            headers=TUS | {"Upload-Offset": "0", "Content-Type": OFFSET_TYPE,
                           "Content-Length": str(BIG)},
        )  # fmt: skip
        assert resp.status == 204, await resp.text()
        received = 0
        down = await relay.client.get("/storage/download", params={"token": "big"})
        assert down.status == 200
        async for chunk in down.content.iter_chunked(MIB):
            assert chunk == b"\x5a" * len(chunk)
            received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert relay.storage.big_received == BIG
    assert relay.storage.big_digest.hexdigest() == sent.hexdigest()
    assert received == BIG
    # Client, relay and storage share this process: all of them held a few MiB at a time,
    # not the 64 MiB each way.
    assert peak < 24 * MIB, f"peak {peak / MIB:.1f} MiB"


async def test_an_unreachable_or_missing_storage_is_said_plainly() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    for storage_url, status, code in (
        (closed, 503, "service-unavailable"),
        (None, 404, "generic-not-found"),
    ):
        settings = WebserverSettings(manager_url="http://127.0.0.1:9", storage_url=storage_url)
        client: TestClient[Any, Any] = TestClient(TestServer(create_webserver_app(settings)))
        await client.start_server()
        try:
            resp = await client.get("/storage/download", params={"token": "down"})
            assert resp.status == status
            body = await resp.json(content_type=None)
            assert body["type"] == PROBS + code
            assert closed not in json.dumps(body)  # the storage's address stays inside
        finally:
            await client.close()
