"""One heartbeat's live sample of N running containers (agent/live_stats.py), against the
Docker call it used to make per container.

    .venv/bin/python benchmarks/live_stats.py [--runs 20] [--containers 10]

Starts N idle containers of the session image (labelled with a throw-away agent id, removed
after), then measures, in alternating rounds:

* the baseline: one ``docker inspect`` of each container (aiodocker, 8 at a time, as the
  sampler goes), which the sampler did on every heartbeat to find each container's process;
* before: a sample by a backend made to forget the processes before each round (an inspect
  and the cgroup files per container), as every heartbeat was;
* now: a sample by the agent's long-lived backend, which remembers the processes (the cgroup
  files only).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import aiodocker  # noqa: E402
from harness import IMAGE, Figures, remove_containers, report  # noqa: E402

from backendai.agent.backends.docker import DockerBackend  # noqa: E402
from backendai.agent.live_stats import CONCURRENCY, LiveStats  # noqa: E402
from backendai.common.agent_protocol import LABEL_AGENT_ID  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    agent_id = f"bench-{uuid.uuid4().hex[:8]}"
    docker = aiodocker.Docker()
    kept = DockerBackend()
    forgetful = DockerBackend()  # the same connection reuse, but no process remembered
    try:
        ids = []
        for _ in range(args.containers):
            container = await docker.containers.run({
                "Image": IMAGE, "Cmd": ["sleep", "3600"], "Labels": {LABEL_AGENT_ID: agent_id},
            })  # fmt: skip
            ids.append(container.id)
        running = [(uuid.uuid4(), cid) for cid in ids]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def inspect(cid: str) -> None:
            async with gate:
                await docker.containers.container(cid).show()

        live = LiveStats(kept)
        assert len(await live.sample(running)) == len(ids)  # the processes are known now
        baseline = Figures(f"docker inspect of {len(ids)} containers (baseline)", [])
        before = Figures(f"a sample of {len(ids)}, processes unknown (before)", [])
        now = Figures(f"a sample of {len(ids)}, processes remembered (now)", [])
        for _ in range(args.runs):
            t0 = time.perf_counter()
            await asyncio.gather(*(inspect(cid) for cid in ids))
            baseline.samples.append(time.perf_counter() - t0)
            forgetful._pids.clear()  # what it learns is what the old sampler never kept
            t0 = time.perf_counter()
            sampled = await LiveStats(forgetful).sample(running)
            before.samples.append(time.perf_counter() - t0)
            assert len(sampled) == len(ids)
            t0 = time.perf_counter()
            sampled = await live.sample(running)
            now.samples.append(time.perf_counter() - t0)
            assert len(sampled) == len(ids) and all("cpu_util" in s for s in sampled.values())
        report("One heartbeat's live sample", [baseline, before, now], baseline, "ms", args.json)
    finally:
        await kept.close()
        await forgetful.close()
        await docker.close()
        remove_containers(agent_id)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--containers", type=int, default=10)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    asyncio.run(main(parser.parse_args()))
