"""Virtual-folder transfer throughput against ``cp`` on the same disk.

Starts ``backendai-server storage`` as its own process on a free port, with its volume in a
temporary directory next to the test file, then for a random file of ``--size`` (1 GiB):

- ``cp`` of the file on the same disk (the baseline);
- an upload as our SDK does it: a ticket from the manager-facing route, then a tus ``PATCH``
  loop of 16 MiB chunks over aiohttp, each handed to the socket 1 MiB at a time (the official
  client writes each 16 MiB at once, which Python 3.11's asyncio sends about 15% slower);
- a download back to a file (``GET`` streamed to disk).

Each is timed ``--runs`` times (median reported, with its ratio to cp's time; above 1.0 is
slower than cp), the downloaded file's sha256 is compared, and the storage process's peak RSS
(VmHWM) is read at the end.

    .venv/bin/python benchmarks/vfolder_transfer.py [--size-mib 1024] [--runs 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from backendai.common import storage_protocol as sp

TOKEN = "benchmark-storage-token-0123456789"
CHUNK = 16 * 1024 * 1024  # the official client's default --chunk-size
PIECE = 1024 * 1024  # what our SDK hands the socket at a time
SERVER = Path(sys.executable).with_name("backendai-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_storage(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``backendai-server storage`` on a free port; returns the process and its URL."""
    port = free_port()
    config = workdir / "storage.toml"
    config.write_text(
        f'[storage]\nport = {port}\ntoken = "{TOKEN}"\ndata_dir = "{workdir / "data"}"\n'
        f'[storage.volumes.local]\npath = "{workdir / "volume"}"\n'
    )
    log = (workdir / "storage.log").open("wb")
    proc = subprocess.Popen([str(SERVER), "storage", "-f", str(config)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((workdir / "storage.log").read_text())
        try:
            req = urllib.request.Request(
                url + sp.ROUTE_VOLUMES, data=b"{}", headers={sp.STORAGE_TOKEN_HEADER: TOKEN}
            )
            with urllib.request.urlopen(req, timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the storage process did not start")


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")


async def call(http: aiohttp.ClientSession, url: str, route: str, **body: Any) -> Any:
    async with http.post(url + route, json=body, headers={sp.STORAGE_TOKEN_HEADER: TOKEN}) as r:
        doc = await r.json(content_type=None)
        if r.status != 200:
            raise RuntimeError(f"{route}: {r.status} {doc}")
        return doc


async def upload(url: str, vfid: uuid.UUID, src: Path, size: int, path: str) -> float:
    """A ticket, then the PATCH loop; returns the seconds the transfer took."""
    async with aiohttp.ClientSession() as http:
        ticket = await call(
            http, url, sp.ROUTE_FILE_UPLOAD, volume="local", vfid=str(vfid), path=path, size=size
        )
    started = time.perf_counter()
    # A fresh, unsigned session, as the official client makes for the transfer.
    async with aiohttp.ClientSession() as http:
        offset = 0
        with src.open("rb") as f:
            while offset < size:
                f.seek(offset)
                chunk = f.read(CHUNK)
                headers = {
                    "Tus-Resumable": "1.0.0",
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                }
                headers["Content-Length"] = str(len(chunk))

                async def pieces(data: bytes) -> Any:
                    view = memoryview(data)
                    for i in range(0, len(view), PIECE):
                        yield view[i : i + PIECE]

                query = {"token": ticket["token"]}
                body = pieces(chunk)
                async with http.patch(ticket["url"], params=query, data=body, headers=headers) as r:
                    if r.status != 204:
                        raise RuntimeError(f"PATCH: {r.status} {await r.text()}")
                    offset = int(r.headers["Upload-Offset"])
    return time.perf_counter() - started


async def download(url: str, vfid: uuid.UUID, path: str, dst: Path) -> float:
    async with aiohttp.ClientSession() as http:
        ticket = await call(
            http, url, sp.ROUTE_FILE_DOWNLOAD, volume="local", vfid=str(vfid), path=path
        )
        started = time.perf_counter()
        async with http.get(ticket["url"], params={"token": ticket["token"]}) as r:
            if r.status != 200:
                raise RuntimeError(f"GET: {r.status}")
            with dst.open("wb") as f:
                async for block in r.content.iter_chunked(8 << 20):
                    f.write(block)
        return time.perf_counter() - started


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, 16 << 20)
            f.write(os.urandom(n))
            left -= n


def time_cp(src: Path, dst: Path, durable: bool) -> float:
    """``cp``, and with ``durable`` an fsync of the copy: the storage process answers an
    upload's last PATCH only once the file is on disk (``[storage.volumes.X] fsync``)."""
    os.sync()  # every timed step starts without another step's dirty pages to write back
    started = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    if durable:
        fd = os.open(dst, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    took = time.perf_counter() - started
    dst.unlink()
    return took


async def measure(workdir: Path, src: Path, size: int, runs: int) -> dict[str, Any]:
    proc, url = start_storage(workdir)
    try:
        rss_start = rss_kib(proc.pid)
        async with aiohttp.ClientSession() as http:
            vfid = uuid.uuid4()
            await call(http, url, sp.ROUTE_FOLDER_CREATE, volume="local", vfid=str(vfid))
        cp_times: list[float] = []
        cp_durable_times: list[float] = []
        up_times, down_times, same = [], [], True
        for i in range(runs):
            # Interleaved, so that each sees the same state of the page cache and memory.
            cp_times.append(await asyncio.to_thread(time_cp, src, workdir / f"cp-{i}.bin", False))
            cp_durable_times.append(
                await asyncio.to_thread(time_cp, src, workdir / f"cpd-{i}.bin", True)
            )
            await asyncio.to_thread(os.sync)
            up_times.append(await upload(url, vfid, src, size, f"up-{i}.bin"))
            dst = workdir / f"down-{i}.bin"
            await asyncio.to_thread(os.sync)
            down_times.append(await download(url, vfid, f"up-{i}.bin", dst))
            same = same and await asyncio.to_thread(sha256, dst) == await asyncio.to_thread(
                sha256, src
            )
            os.unlink(dst)
        peak = rss_kib(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    cp = statistics.median(cp_times)
    cp_durable = statistics.median(cp_durable_times)
    return {
        "size_mib": size >> 20,
        "cp_s": cp,
        "cp_durable_s": cp_durable,
        "upload_s": statistics.median(up_times),
        "download_s": statistics.median(down_times),
        "upload_ratio": statistics.median(up_times) / cp_durable,
        "upload_ratio_plain": statistics.median(up_times) / cp,
        "download_ratio": statistics.median(down_times) / cp,
        "sha256_equal": same,
        "rss_start_mib": rss_start / 1024,
        "rss_peak_mib": peak / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to work (same disk as cp)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vfolder-bench-", dir=args.dir))
    try:
        src = workdir / "source.bin"
        make_file(src, args.size_mib << 20)
        r = asyncio.run(measure(workdir, src, args.size_mib << 20, args.runs))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    mib = r["size_mib"]
    print(f"file: {mib} MiB, median of {args.runs} runs, on {workdir.parent}")
    print(f"cp        {r['cp_s']:7.2f} s  {mib / r['cp_s']:7.0f} MiB/s")
    print(f"cp+fsync  {r['cp_durable_s']:7.2f} s  {mib / r['cp_durable_s']:7.0f} MiB/s")
    up, down = r["upload_s"], r["download_s"]
    print(f"upload    {up:7.2f} s  {mib / up:7.0f} MiB/s  {r['upload_ratio']:.2f}x cp+fsync's "
          f"time ({r['upload_ratio_plain']:.2f}x cp's)")  # fmt: skip
    print(f"download  {down:7.2f} s  {mib / down:7.0f} MiB/s  {r['download_ratio']:.2f}x cp's time")
    print(f"sha256 equal after the round trip: {r['sha256_equal']}")
    print(f"storage RSS: {r['rss_start_mib']:.0f} MiB at start, peak {r['rss_peak_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
