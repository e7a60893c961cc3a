"""Jupyter in a session, opened through the app proxy, against Jupyter in a bare container.

    .venv/bin/python benchmarks/session_start_jupyter.py [--runs 7] [--pause 1.0]

Starts its own ``backendai-server up`` (or uses ``--endpoint``), as ``session_start.py`` does.
Then, in rounds whose order alternates, each timed until Jupyter answers 200 on ``/tree``:

* ours: ``backend.ai start -t NAME python-jupyter`` (our CLI), then ``POST
  /session/NAME/apps/jupyter`` (the SDK's ``open_app``: the app proxy's route, the app started
  in the session), then GETs of the returned URL (it carries the route's token; the proxy turns
  it into a cookie) until Jupyter's tree page answers 200;
* the baseline: ``docker run -d -p 127.0.0.1:P:8888 IMAGE`` with the same Jupyter command as
  the image's service definition (listening on 0.0.0.0 inside, as publishing needs), as the
  same user, then GETs of ``http://127.0.0.1:P/tree`` until 200.

Each session or container is removed after its run, outside the timing. One warm-up round.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

from harness import Figures, Platform, _free_port, add_platform_options, platform, report

from backendai.client.session import Session

ROOT = Path(__file__).resolve().parent.parent
OURS = ROOT / ".venv" / "bin" / "backend.ai"
IMAGE = "backendai/python-jupyter:3.11-debian12"
ALIAS = "python-jupyter"  # the manager's default alias of the image
SERVICE_DEF = "/etc/backend.ai/service-defs/jupyter.json"
READY_TIMEOUT_S = 120.0


def wait_ok(url: str) -> None:
    """GET ``url`` (following redirects, keeping cookies) until it answers 200."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = ""
    while time.monotonic() < deadline:
        try:
            with opener.open(url, timeout=5) as resp:
                if resp.status == 200 and urllib.parse.urlsplit(resp.url).path.endswith("/tree"):
                    return
                last = f"{resp.status} {resp.url}"
        except (OSError, urllib.error.HTTPError) as e:
            last = str(e)
        time.sleep(0.02)
    raise SystemExit(f"{url} did not answer 200 in {READY_TIMEOUT_S} s (last: {last})")


def bare_command(port: int) -> list[str]:
    """The image's own service command, listening on 0.0.0.0:port (publishing needs it)."""
    spec = json.loads(
        subprocess.run(["docker", "run", "--rm", IMAGE, "cat", SERVICE_DEF],
                       capture_output=True, text=True, check=True).stdout
    )  # fmt: skip
    values = {"ports": [port], "runtime_path": "python3", "home": "/home/work"}
    command = [arg.format(**values) for arg in spec["command"]]
    command = ["--ServerApp.ip=0.0.0.0" if a.startswith("--ServerApp.ip=") else a for a in command]
    for option, value in spec.get("default_arguments", {}).items():
        command += [option] if value is None else [option, str(value)]
    return command


def run_bare(command: list[str], uid: str) -> float:
    port = _free_port()
    name = f"bench-jupyter-bare-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    try:
        subprocess.run(
            ["docker", "run", "-d", "--name", name, "--user", f"{uid}:{uid}", "-w", "/home/work",
             "-p", f"127.0.0.1:{port}:8888", IMAGE, *command],
            capture_output=True, check=True,
        )  # fmt: skip
        wait_ok(f"http://127.0.0.1:{port}/tree")
        return time.perf_counter() - start
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def run_ours(p: Platform, api: Session) -> float:
    name = f"bench-jupyter-{uuid.uuid4().hex[:8]}"
    env = p.client_env()
    start = time.perf_counter()
    try:
        started = subprocess.run([str(OURS), "start", "-t", name, ALIAS], env=env,
                                 capture_output=True, text=True, check=False)  # fmt: skip
        if started.returncode != 0:
            raise SystemExit(f"backend.ai start failed:\n{started.stdout}\n{started.stderr}")
        opened = api.ComputeSession(name).open_app("jupyter")
        wait_ok(opened.url)
        return time.perf_counter() - start
    finally:
        subprocess.run([str(OURS), "rm", name], env=env, capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_platform_options(parser)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between runs")
    parser.set_defaults(runs=7)
    args = parser.parse_args()
    uid = subprocess.run(
        ["docker", "image", "inspect", "--format",
         '{{index .Config.Labels "ai.backend.work-uid"}}', IMAGE],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    command = bare_command(8888)
    with platform(args) as p:
        os.environ.update(p.client_env())  # the SDK reads its keypair and endpoint from here
        with Session() as api:
            names = ["docker run -d + Jupyter (baseline)", "backend.ai start + app proxy"]
            runs: dict[str, Callable[[], float]] = {
                names[0]: lambda: run_bare(command, uid),
                names[1]: lambda: run_ours(p, api),
            }
            for measure in runs.values():  # the warm-up round
                measure()
                time.sleep(args.pause)
            samples: dict[str, list[float]] = {name: [] for name in names}
            for i in range(args.runs):
                for name in names if i % 2 == 0 else names[::-1]:
                    samples[name].append(runs[name]())
                    time.sleep(args.pause)
    rows = [Figures(name, samples[name]) for name in names]
    report("Jupyter ready: session start + app proxy vs. a bare container", rows, rows[0], "s",
           args.json)  # fmt: skip


if __name__ == "__main__":
    main()
