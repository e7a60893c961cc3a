"""The scheduler on a simulated cluster: the real snapshot, policy, predicates and applier on a
real database, no containers.

    .venv/bin/python benchmarks/scheduler_sim.py [--engine sqlite|postgres|both]
        [--agents 1000] [--sessions 10000] [--keypairs 100] [--passes 20] [--policy fifo]

The database gets ``--agents`` agents (8 cpu, 32 GiB each, in one resource group) and
``--sessions`` PENDING sessions (1 to 4 cpu, 1 to 8 GiB) of ``--keypairs`` keypairs whose
policy allows 200 concurrent sessions and 600 cpu in total each. Then passes run back to back:
each one is timed whole (snapshot read, decisions, commit). Between two passes (not timed) a
third of the placed sessions end, as if they had finished, and as many new sessions arrive as
the pass placed, so that the queue stays ``--sessions`` long and every pass both places
sessions and keeps thousands waiting with their reasons and queue positions.

Prints, per engine: ``N decisions/s`` (sessions decided, placed or kept waiting with a
reason and queue position, per second of pass time), placements per second, and the median
and p99 of one pass. PostgreSQL comes from the test fixtures (``BACKENDAI_TEST_POSTGRES_URL``
or ``scripts/postgres.sh``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.database import (  # noqa: E402
    _postgres_admin_url,
    temporary_postgres_database,
)
from tests.manager.scheduler.world import World, make_world  # noqa: E402

from backendai.common.statuses import SessionStatus as S  # noqa: E402
from backendai.manager.db.engine import create_engine  # noqa: E402
from backendai.manager.db.meta import utcnow  # noqa: E402
from backendai.manager.db.migrate import upgrade  # noqa: E402
from backendai.manager.db.models import (  # noqa: E402
    Kernel,
    KeyPair,
    KeyPairResourcePolicy,
    ScalingGroup,
    Session,
    User,
)
from backendai.manager.events import MemoryEventBus, session_factory  # noqa: E402
from backendai.manager.scheduler.applier import apply_plan  # noqa: E402
from backendai.manager.scheduler.policy import schedule  # noqa: E402
from backendai.manager.scheduler.snapshot import load_snapshot  # noqa: E402

GiB = 2**30


@asynccontextmanager
async def database(engine_name: str) -> AsyncIterator[str]:
    if engine_name == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/manager.db"
        return
    admin_url, why_not = _postgres_admin_url()
    if admin_url is None:
        raise SystemExit(f"PostgreSQL unavailable: {why_not}")
    async with temporary_postgres_database(admin_url) as url:
        yield url


async def populate(w: World, args: argparse.Namespace) -> None:
    rng = random.Random(8)
    async with w.db() as db, db.begin():
        db.add(KeyPairResourcePolicy(name="sim", max_concurrent_sessions=200,
                                     total_resource_slots={"cpu": "600"}))  # fmt: skip
        await db.execute(sa.update(ScalingGroup).values(scheduler=args.policy))
        users = [uuid.uuid4() for _ in range(args.keypairs)]
        await db.execute(
            sa.insert(User),
            [
                dict(
                    uuid=u,
                    email=f"sim{i}@example.com",
                    username=f"sim{i}",
                    password="-",
                    domain_name="default",
                    full_name=f"sim{i}",
                )
                for i, u in enumerate(users)
            ],
        )
        await db.flush()
        await db.execute(
            sa.insert(KeyPair),
            [
                dict(
                    access_key=f"AKSIM{i:015d}",
                    secret_key="-",
                    user_id=f"sim{i}@example.com",
                    user=u,
                    resource_policy="sim",
                )
                for i, u in enumerate(users)
            ],
        )
    await w.add_agents(args.agents, cpu="8", mem=str(32 * GiB))
    await add_sessions(w, rng, args.sessions, args.keypairs, 0)


async def add_sessions(w: World, rng: random.Random, count: int, keypairs: int, start: int) -> None:
    """``count`` new PENDING sessions of random shapes and keypairs (in batches of 500)."""
    created = utcnow()
    shapes: dict[tuple[int, int, int], int] = {}
    for i in range(count):
        shape = (rng.randint(1, 4), rng.randint(1, 8), rng.randrange(keypairs))
        shapes[shape] = shapes.get(shape, 0) + 1
        if i % 500 == 499 or i == count - 1:
            for (cpu, mem, key), n in shapes.items():
                await w.add_pending(f"AKSIM{key:015d}", n, start=start + i * 10, created=created,
                                    slots={"cpu": str(cpu), "mem": str(mem * GiB)})  # fmt: skip
            shapes = {}


async def end_some(w: World, rng: random.Random) -> int:
    """A third of the placed sessions end (their kernels too)."""
    async with w.db() as db, db.begin():
        placed = list(await db.scalars(sa.select(Session.id).where(Session.status == S.SCHEDULED)))
        ended = rng.sample(placed, len(placed) // 3)
        for i in range(0, len(ended), 2000):
            chunk = ended[i : i + 2000]
            await db.execute(sa.update(Session).where(Session.id.in_(chunk))
                             .values(status=S.TERMINATED))  # fmt: skip
            await db.execute(sa.update(Kernel).where(Kernel.session_id.in_(chunk))
                             .values(status=S.TERMINATED))  # fmt: skip
    return len(ended)


async def run(engine_name: str, args: argparse.Namespace) -> None:
    async with database(engine_name) as url:
        await upgrade(url)
        engine = create_engine(url)
        try:
            w = await make_world(session_factory(engine, MemoryEventBus()))
            t0 = time.perf_counter()
            await populate(w, args)
            print(f"[{engine_name}] {args.agents} agents, {args.sessions} pending sessions "
                  f"({time.perf_counter() - t0:.1f} s to populate)")  # fmt: skip
            rng = random.Random(9)
            times, decisions, placements = [], 0, 0
            for n in range(args.passes):
                start = time.perf_counter()
                async with w.db() as db:
                    snapshot = await load_snapshot(db, utcnow())
                if not snapshot.pending:
                    break
                read = time.perf_counter()
                plan = schedule(snapshot)
                decided = time.perf_counter()
                scheduled = await apply_plan(w.db, plan)
                took = time.perf_counter() - start
                times.append(took)
                decisions += plan.decisions
                placements += len(scheduled)
                print(f"  pass {n + 1}: {len(snapshot.pending)} pending, {len(scheduled)} "
                      f"placed, {len(plan.waiting)} waiting, {took * 1000:.0f} ms (read "
                    f"{(read - start) * 1000:.0f}, decide {(decided - read) * 1000:.0f}, commit "
                    f"{(time.perf_counter() - decided) * 1000:.0f})")  # fmt: skip
                await end_some(w, rng)
                # New sessions arrive as many as were placed: the queue stays this long.
                await add_sessions(w, rng, len(scheduled), args.keypairs, (n + 1) * 10**6)
        finally:
            await engine.dispose()
    total = sum(times)
    p99 = statistics.quantiles(times, n=100)[98] if len(times) > 1 else times[0]
    print(f"[{engine_name}] {decisions / total:.0f} decisions/s ({placements / total:.0f} "
          f"placements/s); one pass: median {statistics.median(times) * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms over {len(times)} passes")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=10000)
    parser.add_argument("--keypairs", type=int, default=100)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--policy", default="fifo")
    args = parser.parse_args()
    for name in ["sqlite", "postgres"] if args.engine == "both" else [args.engine]:
        asyncio.run(run(name, args))


if __name__ == "__main__":
    main()
