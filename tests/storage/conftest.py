"""An in-process storage app on a temporary volume, and helpers that speak its protocol."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from backendai.common import storage_protocol as sp
from backendai.storage.app import create_app
from backendai.storage.settings import StorageSettings

TOKEN = "storage-test-token-0123456789"


@dataclass
class Storage:
    client: TestClient[Any, Any]
    root: Path  # the volume "local"
    settings: StorageSettings

    async def call(self, route: str, status: int = 200, **body: Any) -> Any:
        """POST a manager route; asserts ``status`` and returns the JSON answer."""
        resp = await self.client.post(route, json=body, headers={sp.STORAGE_TOKEN_HEADER: TOKEN})
        doc = await resp.json(content_type=None)
        assert resp.status == status, doc
        return doc

    async def folder(self, volume: str = "local") -> uuid.UUID:
        vfid = uuid.uuid4()
        await self.call(sp.ROUTE_FOLDER_CREATE, volume=volume, vfid=str(vfid))
        return vfid

    def dir(self, vfid: uuid.UUID) -> Path:
        return self.root / sp.folder_path(vfid)

    async def ticket(self, route: str, vfid: uuid.UUID, path: str, **extra: Any) -> str:
        """A transfer ticket's URL path with its token (what the test client can request)."""
        doc = await self.call(route, volume="local", vfid=str(vfid), path=path, **extra)
        url = urlsplit(doc["url"])
        assert doc["url"].startswith("http://")
        return f"{url.path}?token={doc['token']}"

    async def patch(self, url: str, offset: int, data: bytes) -> ClientResponse:
        return await self.client.patch(
            url,
            data=data,
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Offset": str(offset),
                "Content-Type": "application/offset+octet-stream",
            },
        )

    async def upload(self, vfid: uuid.UUID, path: str, data: bytes, chunk: int = 1 << 20) -> None:
        url = await self.ticket(sp.ROUTE_FILE_UPLOAD, vfid, path, size=len(data))
        offset = 0
        while offset < len(data):
            resp = await self.patch(url, offset, data[offset : offset + chunk])
            assert resp.status == 204, await resp.text()
            offset = int(resp.headers["Upload-Offset"])

    async def download(self, vfid: uuid.UUID, path: str) -> bytes:
        url = await self.ticket(sp.ROUTE_FILE_DOWNLOAD, vfid, path)
        resp = await self.client.get(url)
        assert resp.status == 200, await resp.text()
        return await resp.read()


def make_settings(tmp_path: Path, **extra: Any) -> StorageSettings:
    return StorageSettings(
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "data",
        token=TOKEN,
        volumes={"local": {"path": tmp_path / "volume", **extra.pop("volume", {})}},
        **extra,
    )


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    settings = make_settings(tmp_path)
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        yield Storage(client, tmp_path / "volume", settings)
    finally:
        await client.close()


@pytest.fixture
async def quota_storage(tmp_path: Path) -> AsyncIterator[Storage]:
    """A volume that holds at most 1 MiB in all."""
    settings = make_settings(tmp_path, volume={"quota": 1 << 20})
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        yield Storage(client, tmp_path / "volume", settings)
    finally:
        await client.close()
