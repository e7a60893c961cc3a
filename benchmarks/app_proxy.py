"""HTTP through the app proxy and through ``backend.ai app``, against a direct connection.

Starts ``backendai-server up`` (tests/fixtures/live.py: free ports, its own app-port pool), a
session with ``--preopen 8080``, and in it a small keep-alive HTTP/1.1 server (plain asyncio,
so that the server costs the same on every path). Then, with one load client each time:

- direct: the client runs inside the container's network namespace (``nsenter --net``, as
  root) and reaches the server at 127.0.0.1:8080: no proxy, no tunnel;
- app proxy: the browser path, ``POST /session/NAME/apps/preopen-8080`` opens a route, the
  client logs in with the token link (302 + cookie) and reaches the route's own port;
- ``backend.ai app``: the CLI's local proxy (WebSocket through manager and agent).

Figures: throughput of one ``--size-mib`` download (MB/s, median of ``--runs``) and the median
latency of ``--requests`` small keep-alive GETs, with the added latency over direct.
Goals: >= 0.9x direct throughput, < 1 ms added median latency.

    sudo .venv/bin/python benchmarks/app_proxy.py [--size-mib 256] [--requests 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.live import (  # noqa: E402
    free_port,
    load_server,
    remove_containers,
    start_server,
    stop_server,
)

APP_PORT = 8080
APP = f"preopen-{APP_PORT}"
BIN = Path(sys.executable).parent

SERVER_CODE = r"""
import asyncio, sys
BIG = bytes(range(256)) * 4096  # 1 MiB, sent again and again

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b" ", 2)[1]
            if target.startswith(b"/big/"):
                mib = int(target[5:])
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (mib << 20))
                for _ in range(mib):
                    writer.write(BIG)
                    await writer.drain()
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()

asyncio.run(main())
"""


# -- the load client (also run alone inside the container's namespace: --client) ------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    remaining = length
    while remaining:
        chunk = await reader.read(min(remaining, 1 << 20))
        if not chunk:
            raise ConnectionError("closed mid-body")
        remaining -= len(chunk)
    return status, length


async def measure(url: str, cookie: str, size_mib: int, requests: int, runs: int) -> dict[str, Any]:
    parts = urlsplit(url)
    extra = f"Cookie: {cookie}\r\n" if cookie else ""
    host = f"{parts.hostname}:{parts.port}"
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    small = f"GET /small HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()
    latencies = []
    for i in range(requests + 50):
        start = time.perf_counter()
        writer.write(small)
        status, _ = await _read_response(reader)
        if i >= 50:  # the first ones warm up (and open the tunnel)
            latencies.append(time.perf_counter() - start)
        assert status == 200, status
    rates = []
    big = f"GET /big/{size_mib} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()
    for _ in range(runs):
        start = time.perf_counter()
        writer.write(big)
        status, length = await _read_response(reader)
        rates.append(length / (time.perf_counter() - start) / 1e6)
        assert status == 200 and length == size_mib << 20
    writer.close()
    return {
        "median_latency_ms": statistics.median(latencies) * 1e3,
        "p99_latency_ms": sorted(latencies)[int(len(latencies) * 0.99)] * 1e3,
        "throughput_mb_s": statistics.median(rates),
    }


def run_client(args: argparse.Namespace, url: str, cookie: str = "") -> dict[str, Any]:
    return asyncio.run(measure(url, cookie, args.size_mib, args.requests, args.runs))


# -- the platform ---------------------------------------------------------------------------


def _cli(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(
        [str(BIN / "backend.ai"), *argv], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"backend.ai {' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port}")


async def _open_route(env: dict[str, str], name: str) -> tuple[str, str]:
    """The route's URL and the cookie its token link sets (as a browser gets them)."""
    import aiohttp

    os.environ.update(env)
    from backendai.client.session import AsyncSession

    async with AsyncSession() as api:
        opened = await api.ComputeSession(name).open_app(APP)
    async with (
        aiohttp.ClientSession() as http,
        http.get(opened.url, allow_redirects=False) as resp,
    ):
        assert resp.status == 302, resp.status
        cookie = resp.headers["Set-Cookie"].split(";", 1)[0]
    base = opened.url.split("?", 1)[0]
    return base, cookie


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--client", help=argparse.SUPPRESS)  # run the load client only
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.client:
        print(json.dumps(run_client(args, args.client)))
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root: the direct baseline enters the container's namespace")

    data_dir = Path(tempfile.mkdtemp(prefix="bai-bench-app-", dir="/tmp"))
    ports = (free_port(), free_port(), free_port(), free_port())
    proc = start_server(data_dir, ports)
    app_cli: subprocess.Popen[bytes] | None = None
    figures: dict[str, dict[str, Any]] = {}
    try:
        live = load_server(data_dir, ports, proc.pid)
        demo = live.user("demo")
        env = os.environ | {
            "BACKEND_ENDPOINT_TYPE": "api",
            "BACKEND_ENDPOINT": live.endpoint,
            "BACKEND_ACCESS_KEY": demo["access_key"],
            "BACKEND_SECRET_KEY": demo["secret_key"],
        }
        name = f"bench-app-{os.getpid()}"
        _cli(env, "start", "-t", name, "--preopen", str(APP_PORT), "python")
        container = live.agent_kernels()[-1]["container_id"]
        script = data_dir / "bench_server.py"
        script.write_text(SERVER_CODE)
        subprocess.run(
            ["docker", "cp", str(script), f"{container}:/tmp/bench_server.py"], check=True
        )
        subprocess.run(
            ["docker", "exec", "-d", container, "python3", "/tmp/bench_server.py", str(APP_PORT)],
            check=True,
        )
        pid = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Pid}}", container],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        time.sleep(1.0)
        direct = subprocess.run(
            ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, __file__,
             "--client", f"http://127.0.0.1:{APP_PORT}", "--size-mib", str(args.size_mib),
             "--requests", str(args.requests), "--runs", str(args.runs)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        figures["direct (container netns)"] = json.loads(direct.stdout)
        url, cookie = asyncio.run(_open_route(env, name))
        figures["app proxy (browser route)"] = run_client(args, url, cookie)
        local = free_port()
        app_cli = subprocess.Popen(
            [str(BIN / "backend.ai"), "app", name, APP, "-b", f"127.0.0.1:{local}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_port(local)
            figures["backend.ai app (CLI proxy)"] = run_client(args, f"http://127.0.0.1:{local}")
        except SystemExit as e:
            print(f"# backend.ai app skipped: {e}", file=sys.stderr)
    finally:
        if app_cli is not None:
            app_cli.terminate()
            app_cli.wait()
        stop_server(proc)
        from backendai.server.main import local_agent_id

        remove_containers(local_agent_id(data_dir))
        shutil.rmtree(data_dir, ignore_errors=True)

    base = figures["direct (container netns)"]
    print(f"App proxy: {args.size_mib} MiB download (median of {args.runs}), "
          f"{args.requests} keep-alive GETs")  # fmt: skip
    print(
        f"{'path':30} {'MB/s':>9} {'x direct':>9} {'median ms':>10} {'added ms':>9} {'p99 ms':>8}"
    )
    for path, f in figures.items():
        print(
            f"{path:30} {f['throughput_mb_s']:9.0f} "
            f"{f['throughput_mb_s'] / base['throughput_mb_s']:9.2f} "
            f"{f['median_latency_ms']:10.3f} "
            f"{f['median_latency_ms'] - base['median_latency_ms']:9.3f} {f['p99_latency_ms']:8.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
