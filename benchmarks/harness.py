"""What the benchmarks share: a platform to measure, timing, figures, the machine.

``platform(args)`` either uses ``--endpoint`` with ``--access-key``/``--secret-key`` or starts
its own ``backendai-server up`` on free ports in a temporary data dir, and always leaves no
container or network of its own behind (those labelled with its agent's id).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform as host
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backendai.common.agent_protocol import LABEL_AGENT_ID
from backendai.server.main import local_agent_id

BIN = Path(sys.executable).parent
IMAGE = "backendai/python:3.11-debian12"
START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Platform:
    endpoint: str
    access_key: str
    secret_key: str

    def client_env(self) -> dict[str, str]:
        """Environment for Backend.AI's clients (official and ours) in keypair mode."""
        return os.environ | {
            "BACKEND_ENDPOINT_TYPE": "api",
            "BACKEND_ENDPOINT": self.endpoint,
            "BACKEND_ACCESS_KEY": self.access_key,
            "BACKEND_SECRET_KEY": self.secret_key,
        }


def add_platform_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint", help="measure a running manager instead of starting one")
    parser.add_argument("--access-key", default=os.environ.get("BACKEND_ACCESS_KEY"))
    parser.add_argument("--secret-key", default=os.environ.get("BACKEND_SECRET_KEY"))
    parser.add_argument("--runs", type=int, default=10, help="measured runs of each (default 10)")
    parser.add_argument(
        "--pool-size", type=int, help="the started agent's warm pool size (default: its default)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")


def _free_port_range() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.fixtures.live import free_port_range

    return free_port_range()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], creds: Path, log: Path) -> dict[str, str]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"backendai-server up exited early:\n{log.read_text()}")
        if creds.exists():
            doc: dict[str, Any] = json.loads(creds.read_text())
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(doc["endpoint"] + "/", timeout=2),
            ):
                if "joined" in log.read_text():  # the agent's first heartbeat arrived
                    return {"endpoint": str(doc["endpoint"])} | dict(doc["demo"])
        time.sleep(0.1)
    raise SystemExit(f"backendai-server up did not become ready:\n{log.read_text()}")


def remove_containers(agent_id: str) -> None:
    """Every container of that agent, then its networks, whatever happened (the platform
    removes its own): each network left behind would add its rules to every later run's."""
    for listing, removal in (("ps -aq", ["rm", "-f"]), ("network ls -q", ["network", "rm"])):
        found = subprocess.run(
            ["docker", *listing.split(), "--filter", f"label={LABEL_AGENT_ID}={agent_id}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        if found:
            subprocess.run(["docker", *removal, *found], capture_output=True, check=False)


@contextlib.contextmanager
def platform(args: argparse.Namespace) -> Iterator[Platform]:
    if args.endpoint:
        if not (args.access_key and args.secret_key):
            raise SystemExit("--endpoint needs --access-key and --secret-key (or BACKEND_*).")
        yield Platform(args.endpoint, args.access_key, args.secret_key)
        return
    data_dir = Path(tempfile.mkdtemp(prefix="bai-bench-", dir="/tmp"))
    log = data_dir / "server.log"
    command = [
        str(BIN / "backendai-server"), "up", "--data-dir", str(data_dir),
        "--port", str(_free_port()), "--webserver-port", str(_free_port()),
        "--agent-port", str(_free_port()), "--storage-port", str(_free_port()),
        # Never the defaults (6041, 10200-10299) of a `make up` that may be running.
        "--appproxy-port", str(_free_port()), "--appproxy-ports", _free_port_range(),
    ]  # fmt: skip
    env = dict(os.environ)
    if args.pool_size is not None:
        env["BACKENDAI_AGENT_POOL_SIZE"] = str(args.pool_size)
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        doc = _wait_ready(proc, data_dir / "demo-credentials.json", log)
        print(f"# platform: {' '.join(command)}", file=sys.stderr)
        yield Platform(doc["endpoint"], doc["access_key"], doc["secret_key"])
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        remove_containers(local_agent_id(data_dir))
        shutil.rmtree(data_dir, ignore_errors=True)


def timed(
    command: Sequence[str], env: dict[str, str] | None = None, expect: str | None = "1"
) -> float:
    """Seconds ``command`` took; it must succeed and print ``expect`` on a line of its own."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or (expect is not None and expect not in done.stdout.splitlines()):
        raise SystemExit(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return elapsed


@dataclass(frozen=True)
class Figures:
    name: str
    samples: list[float]  # seconds

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, round(0.9 * len(ordered)) - 1)]

    def row(self, unit: float, baseline: Figures | None) -> str:
        ratio = f"{self.median / baseline.median:5.2f}x" if baseline is not None else "      "
        return (
            f"{self.name:<52} {self.median * unit:8.1f} {self.p90 * unit:8.1f} "
            f"{min(self.samples) * unit:8.1f}  {ratio}"
        )


def report(
    title: str, rows: list[Figures], baseline: Figures, unit: str, path: Path | None
) -> None:
    scale = {"s": 1.0, "ms": 1000.0}[unit]
    print(f"\n{title} ({len(baseline.samples)} runs each, {machine()})")
    print(f"{'':<52} {'median':>8} {'p90':>8} {'min':>8}  ratio  [{unit}]")
    for figures in rows:
        print(figures.row(scale, None if figures is baseline else baseline))
    if path is not None:
        doc = {
            "title": title,
            "machine": machine(),
            "unit": "s",
            "rows": {f.name: f.samples for f in rows},
            "baseline": baseline.name,
        }
        path.write_text(json.dumps(doc, indent=2) + "\n")


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    docker = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return f"{os.cpu_count()} cores {model}, Linux {host.release()}, Docker {docker}"
