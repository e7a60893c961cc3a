"""One query-mode execution on a running session, against ``docker exec`` into its container.

    .venv/bin/python benchmarks/exec_roundtrip.py [--runs 30]

One session is created (image ``python``) and kept for the whole run. Each round measures:

* ``ComputeSession.execute(None, "print(1)")`` through our SDK (``backendai.client``): signed
  WebSocket ``GET /stream/session/{id}/execute`` to the manager, relayed to the agent and the
  runner's persistent interpreter, every frame up to ``finished``;
* the same WebSocket opened by a minimal aiohttp client (``signed_headers``): the SDK's own
  overhead is the difference;
* the baseline ``docker exec CONTAINER python3 -c "print(1)"`` into the session's container.

Every execution must print ``1``. Three warm-up rounds are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import time
from typing import Any

import aiohttp
from harness import Figures, Platform, add_platform_options, platform, report, timed
from yarl import URL

from backendai.client.config import APIConfig
from backendai.client.session import AsyncSession
from backendai.common.signing import signed_headers

CODE = "print(1)"
GOAL_MS = 20.0


async def raw_execute(http: aiohttp.ClientSession, p: Platform, session_id: str) -> str:
    """One execution over a bare signed WebSocket; the stdout it printed."""
    path = f"/stream/session/{session_id}/execute"
    url = URL(p.endpoint)
    headers = signed_headers(
        p.access_key, p.secret_key, method="GET", rel_url=path,
        host=f"{url.host}:{url.port}", content_type="application/octet-stream",
    )  # fmt: skip
    out = []
    async with http.ws_connect(p.endpoint + path, headers=headers) as ws:
        await ws.send_str(json.dumps({"code": CODE, "mode": "query", "options": {}}))
        async for message in ws:
            frame = json.loads(message.data)
            out += [text for kind, text in frame["console"] if kind == "stdout"]
            if frame["status"] == "finished":
                break
    return "".join(out)


async def measure(p: Platform, runs: int) -> dict[str, list[float]]:
    config = APIConfig(endpoints=[p.endpoint], access_key=p.access_key, secret_key=p.secret_key)
    samples: dict[str, list[float]] = {"sdk": [], "raw": [], "docker": []}
    async with AsyncSession(config=config) as api, aiohttp.ClientSession() as http:
        session = await api.ComputeSession.get_or_create("python", max_wait=60)
        if session.status != "RUNNING":
            raise SystemExit(f"The session did not start: {session.status}")
        try:
            container = str((await session.get_info())["containerId"])
            session_id = str(session.id)
            docker = ["docker", "exec", container, "python3", "-c", CODE]
            for i in range(3 + runs):
                start = time.perf_counter()
                result: dict[str, Any] = await session.execute(None, CODE)
                sdk = time.perf_counter() - start
                stdout = "".join(t for kind, t in result["console"] if kind == "stdout")
                start = time.perf_counter()
                raw_stdout = await raw_execute(http, p, session_id)
                raw = time.perf_counter() - start
                if stdout != "1\n" or raw_stdout != "1\n":
                    raise SystemExit(f"Unexpected output: {result!r} / {raw_stdout!r}")
                baseline = await asyncio.to_thread(timed, docker)
                if i >= 3:
                    samples["sdk"].append(sdk)
                    samples["raw"].append(raw)
                    samples["docker"].append(baseline)
        finally:
            await session.destroy()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_platform_options(parser)
    parser.set_defaults(runs=30)
    args = parser.parse_args()
    subprocess.run(["docker", "version"], capture_output=True, check=True)
    with platform(args) as p:
        samples = asyncio.run(measure(p, args.runs))
    baseline = Figures('docker exec CONTAINER python3 -c "print(1)" (baseline)', samples["docker"])
    rows = [
        baseline,
        Figures("SDK ComputeSession.execute (ours)", samples["sdk"]),
        Figures("  raw signed WebSocket (aiohttp)", samples["raw"]),
    ]
    report("Query-mode execution round trip on a running session", rows, baseline, "ms", args.json)
    verdict = "met" if rows[1].median * 1000 <= GOAL_MS else "missed"
    print(f"goal: SDK median at most {GOAL_MS:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
