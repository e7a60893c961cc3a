"""Concurrent creates against a concurrency limit: the count and the insert are one atomic step
under the owner's keypair row lock, so exactly ``max_concurrent_sessions`` of them win, on both
database engines."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from backendai.manager.db.models import KeyPairResourcePolicy
from tests.fixtures.platform import running_manager
from tests.manager.conftest import FAST, count_sessions, create
from tests.manager.fake_agent import FakeAgent

LIMIT = 30
ATTEMPTS = 45


async def test_concurrent_creates_respect_the_session_limit(tmp_path: Path, db_url: str) -> None:
    agent = FakeAgent(cpu=64, mem=64 * 2**30)  # room for every session: only the limit decides
    await agent.start()
    try:
        async with running_manager(tmp_path, db_url, **FAST) as platform:
            assert await agent.send_heartbeat(platform) == 200
            async with platform.ctx.db() as db, db.begin():
                await db.execute(
                    sa.update(KeyPairResourcePolicy).values(max_concurrent_sessions=LIMIT)
                )
            results = await asyncio.gather(
                *(create(platform, f"race-{i:02d}", enqueueOnly=True) for i in range(ATTEMPTS))
            )
            outcomes = Counter((status, body.get("type", "created")) for status, body in results)
            assert outcomes == {
                (201, "created"): LIMIT,
                (400, "https://api.backend.ai/probs/quota-exceeded"): ATTEMPTS - LIMIT,
            }, outcomes
            refused = next(body for status, body in results if status == 400)
            assert f"your limit is {LIMIT}" in refused["msg"]
            assert await count_sessions(platform) == LIMIT
    finally:
        await agent.close()
