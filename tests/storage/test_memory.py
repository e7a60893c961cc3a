"""The storage process's memory does not grow with a transfer's size (a real subprocess)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from backendai.common import storage_protocol as sp

TOKEN = "memory-test-storage-token-0123"
SIZE = 256 << 20
CHUNK = 16 << 20
SERVER = Path(sys.executable).with_name("backendai-server")


def _rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


@pytest.fixture
def storage_process(tmp_path: Path) -> Iterator[tuple[int, str]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "storage.toml"
    config.write_text(
        f'[storage]\nport = {port}\ntoken = "{TOKEN}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[storage.volumes.local]\npath = "{tmp_path / "volume"}"\n'
    )
    log = tmp_path / "storage.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(SERVER), "storage", "-f", str(config)], stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            request = urllib.request.Request(
                url + sp.ROUTE_VOLUMES, data=b"{}", headers={sp.STORAGE_TOKEN_HEADER: TOKEN}
            )
            try:
                with urllib.request.urlopen(request, timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                time.sleep(0.1)
        yield proc.pid, url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


async def _call(http: aiohttp.ClientSession, url: str, route: str, **body: Any) -> Any:
    async with http.post(url + route, json=body, headers={sp.STORAGE_TOKEN_HEADER: TOKEN}) as r:
        assert r.status == 200, await r.text()
        return await r.json()


@pytest.mark.slow
async def test_rss_stays_flat_over_a_256_mib_upload_and_download(
    storage_process: tuple[int, str], tmp_path: Path
) -> None:
    pid, url = storage_process
    block = os.urandom(1 << 20)
    digest = hashlib.sha256()
    for i in range(SIZE >> 20):
        digest.update(block[i:] + block[:i])
    vfid = uuid.uuid4()
    async with aiohttp.ClientSession() as http:
        await _call(http, url, sp.ROUTE_FOLDER_CREATE, volume="local", vfid=str(vfid))
        before = _rss_kib(pid, "VmRSS")
        ticket = await _call(http, url, sp.ROUTE_FILE_UPLOAD, volume="local", vfid=str(vfid),
                             path="big.bin", size=SIZE)  # fmt: skip
        offset = 0
        while offset < SIZE:
            chunk = b"".join(
                block[i:] + block[:i] for i in range(offset >> 20, (offset + CHUNK) >> 20)
            )
            headers = {"Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
                       "Content-Type": "application/offset+octet-stream"}  # fmt: skip
            async with http.patch(ticket["url"], params={"token": ticket["token"]}, data=chunk,
                                  headers=headers) as r:  # fmt: skip
                assert r.status == 204, await r.text()
                offset = int(r.headers["Upload-Offset"])
        ticket = await _call(http, url, sp.ROUTE_FILE_DOWNLOAD, volume="local", vfid=str(vfid),
                             path="big.bin")  # fmt: skip
        got = hashlib.sha256()
        async with http.get(ticket["url"], params={"token": ticket["token"]}) as r:
            assert r.headers["Content-Length"] == str(SIZE)
            async for data in r.content.iter_chunked(1 << 20):
                got.update(data)
    peak = _rss_kib(pid, "VmHWM")
    assert got.hexdigest() == digest.hexdigest()
    growth_mib = (peak - before) / 1024
    print(f"storage RSS {before / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB")
    assert growth_mib < 64, f"RSS grew by {growth_mib:.0f} MiB"
