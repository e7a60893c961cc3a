"""What a kernel's start and end cost at the agent, on the real Docker Engine: the agent's own
create (``POST /v1/kernels``, answered once the kernel's runner is ready) and destroy, with the
warm pool off and on. Run it on two trees to see what a change costs, e.g. the session networks:

    .venv/bin/python benchmarks/agent_create.py --runs 15
    git archive HEAD src | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/src .venv/bin/python benchmarks/agent_create.py --runs 15

Each configuration runs in its own agent (a fresh agent id and data dir); every run waits
``--pause`` seconds first and, with the pool on, until a prepared container is idle, so that
each create finds the agent settled. Everything the runs made is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiodocker
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.main import create_app
from backendai.agent.server import CONTEXT_KEY
from backendai.agent.settings import AgentSettings
from backendai.common.agent_protocol import AGENT_TOKEN_HEADER, LABEL_AGENT_ID

IMAGE = "backendai/python:3.11-debian12"
TOKEN = "benchmark-agent-token-0123456789"


async def remove_everything(agent_id: str) -> None:
    labels = {"label": [f"{LABEL_AGENT_ID}={agent_id}"]}
    async with aiodocker.Docker() as docker:
        for container in await docker.containers.list(all=True, filters=labels):
            await container.delete(force=True)
        for network in await docker.networks.list(filters=labels):
            with contextlib.suppress(aiodocker.DockerError):
                await docker._query_json(f"networks/{network['Id']}", method="DELETE")


async def measure(pool_size: int, runs: int, pause: float) -> dict[str, list[float]]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench", dir="/tmp"))
    agent_id = f"bench-{uuid.uuid4().hex[:12]}"
    settings = AgentSettings(
        token=TOKEN, data_dir=data_dir, manager_url=None, id=agent_id, pool_size=pool_size,
        pool_images=[IMAGE] if pool_size else None,
    )  # fmt: skip
    headers = {AGENT_TOKEN_HEADER: TOKEN}
    times: dict[str, list[float]] = {"create": [], "destroy": []}
    try:
        async with TestClient(TestServer(create_app(settings))) as client:
            pool = client.server.app[CONTEXT_KEY].registry.pool
            for i in range(runs + 1):  # the first is a warm-up
                await asyncio.sleep(pause)
                for _ in range(1200):  # the pool's refill: a minute at most
                    if not pool_size or pool.idle.get(IMAGE):
                        break
                    await asyncio.sleep(0.05)
                body: dict[str, Any] = {
                    "kernel_id": str(uuid.uuid4()), "session_id": str(uuid.uuid4()),
                    "session_name": "bench", "image": IMAGE,
                    "slots": {"cpu": "1", "mem": str(512 * 2**20)},
                }  # fmt: skip
                started = time.perf_counter()
                resp = await client.post("/v1/kernels", json=body, headers=headers)
                assert resp.status == 200, await resp.text()
                created = time.perf_counter()
                resp = await client.delete(f"/v1/kernels/{body['kernel_id']}", headers=headers)
                assert resp.status == 200, await resp.text()
                ended = time.perf_counter()
                if i:
                    times["create"].append((created - started) * 1000)
                    times["destroy"].append((ended - created) * 1000)
    finally:
        await remove_everything(agent_id)
        shutil.rmtree(data_dir, ignore_errors=True)
    return times


def row(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[max(0, round(0.9 * len(ordered)) - 1)]
    return f"| {name} | {statistics.median(ordered):.1f} | {p90:.1f} | {ordered[0]:.1f} |"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds before each run")
    parser.add_argument("--json", action="store_true", help="print every figure, as JSON")
    args = parser.parse_args()
    if args.json:  # for runs of two trees interleaved by a caller
        found = {size: await measure(size, args.runs, args.pause) for size in (0, 1)}
        print(json.dumps(found))
        return
    print(f"| {args.runs} runs each (ms) | median | p90 | min |\n|---|---|---|---|")
    for pool_size in (0, 1):
        times = await measure(pool_size, args.runs, args.pause)
        label = "warm pool" if pool_size else "no pool"
        print(row(f"create, {label}", times["create"]))
        print(row(f"destroy, {label}", times["destroy"]))


if __name__ == "__main__":
    asyncio.run(main())
