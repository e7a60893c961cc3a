"""Two (or more) ``backendai-server manager`` processes on one PostgreSQL database with Redis
events, and fake agents of different capacities that heartbeat to them.

The agents are ``tests.manager.fake_agent.FakeAgent`` servers on their own ports: a real agent
answers a repeated create of the same kernel idempotently, which would hide a double launch,
while the fake one records every create call it gets.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from backendai.common.agent_protocol import AGENT_TOKEN_HEADER
from backendai.common.signing import signed_headers
from backendai.manager.db.engine import create_engine, create_session_factory
from backendai.manager.db.migrate import upgrade
from backendai.manager.db.models import KeyPairResourcePolicy
from backendai.manager.services.bootstrap import Credentials, InitialUsers, bootstrap
from tests.fixtures.database import temporary_postgres_database
from tests.fixtures.live import SERVER, free_port
from tests.fixtures.platform import TEST_AGENT_TOKEN
from tests.manager.conftest import create_body
from tests.manager.fake_agent import FakeAgent, GiB

START_TIMEOUT_S = 60.0
HEARTBEAT_S = 1.0


@dataclass
class ManagerProcess:
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the manager exited early:\n{self.log.read_text()}")
            with suppress(OSError), urllib.request.urlopen(self.url + "/", timeout=2) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the manager did not become ready:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_manager(data_dir: Path, db_url: str, redis_url: str) -> ManagerProcess:
    data_dir.mkdir(parents=True)
    port = free_port()
    config = data_dir / "manager.toml"
    config.write_text(
        "[manager]\n"
        f"data_dir = {json.dumps(str(data_dir))}\nport = {port}\n"
        f"db_url = {json.dumps(db_url)}\n"
        f'event_bus = "redis"\nredis_url = {json.dumps(redis_url)}\n'
        f"agent_token = {json.dumps(TEST_AGENT_TOKEN)}\n"
        "scheduler_interval = 0.5\nagent_lost_timeout = 120\nkernel_vanish_grace = 60\n"
        "sse_ping_interval = 1\n"
    )
    log = data_dir / "manager.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(SERVER), "manager", "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy(),
        )  # fmt: skip
    return ManagerProcess(port, proc, log)


@dataclass
class Cluster:
    engine: AsyncEngine
    users: InitialUsers
    managers: list[ManagerProcess]
    agents: list[FakeAgent]
    http: aiohttp.ClientSession

    def creds(self, who: str) -> Credentials:
        c: Credentials = getattr(self.users, who)
        return c

    async def call(
        self, m: int, who: str, method: str, rel_url: str, body: Any = None
    ) -> tuple[int, Any]:
        """A signed request to manager ``m`` as ``who`` ("demo" or "superadmin")."""
        c, mgr = self.creds(who), self.managers[m]
        ctype = "application/json" if body is not None else "text/plain"
        headers = signed_headers(c.access_key, c.secret_key, method=method, rel_url=rel_url,
                                 host=f"127.0.0.1:{mgr.port}", content_type=ctype)  # fmt: skip
        headers["Content-Type"] = ctype
        data = json.dumps(body) if body is not None else None
        async with self.http.request(method, mgr.url + rel_url, data=data, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def create(self, m: int, who: str, name: str) -> tuple[int, Any]:
        body = create_body(name, enqueueOnly=True,
                           config={"resources": {"cpu": "1", "mem": "256m"}})  # fmt: skip
        return await self.call(m, who, "POST", "/session", body)

    def stream_headers(self, m: int, who: str, rel_url: str) -> dict[str, str]:
        c = self.creds(who)
        return signed_headers(c.access_key, c.secret_key, method="GET", rel_url=rel_url,
                              host=f"127.0.0.1:{self.managers[m].port}",
                              content_type="application/octet-stream")  # fmt: skip

    async def heartbeat(self, agent: FakeAgent, m: int) -> None:
        async with self.http.post(
            self.managers[m].url + "/internal/agents/heartbeat",
            json=agent.heartbeat().model_dump(mode="json"),
            headers={AGENT_TOKEN_HEADER: TEST_AGENT_TOKEN},
        ) as resp:
            assert resp.status == 200, await resp.text()


async def _heartbeats(c: Cluster) -> None:
    turn = 0
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        for agent in c.agents:
            turn += 1
            with suppress(aiohttp.ClientError, AssertionError):
                await c.heartbeat(agent, turn % len(c.managers))


@asynccontextmanager
async def cluster(
    tmp_path: Path,
    postgres_url: str,
    redis_url: str,
    *,
    agent_cpus: tuple[int, ...],
    managers: int = 2,
    concurrency_limit: int = 30,
    create_delay: float = 0.0,
) -> AsyncIterator[Cluster]:
    async with temporary_postgres_database(postgres_url) as db_url:
        await upgrade(db_url)
        engine = create_engine(db_url)
        users = await bootstrap(create_session_factory(engine))
        assert users is not None
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(KeyPairResourcePolicy).values(
                    max_concurrent_sessions=concurrency_limit, max_pending_session_count=10_000
                )
            )
        agents = [FakeAgent(f"cluster-agent-{i}", cpu=cpu, mem=8 * GiB, create_delay=create_delay)
                  for i, cpu in enumerate(agent_cpus)]  # fmt: skip
        procs: list[ManagerProcess] = []
        beats: asyncio.Task[None] | None = None
        try:
            for agent in agents:
                await agent.start()
            procs = [start_manager(tmp_path / f"manager-{i}", db_url, redis_url)
                     for i in range(managers)]  # fmt: skip
            for p in procs:
                await asyncio.to_thread(p.wait_ready)
            async with aiohttp.ClientSession() as http:
                c = Cluster(engine, users, procs, agents, http)
                for agent in agents:
                    await c.heartbeat(agent, 0)
                beats = asyncio.create_task(_heartbeats(c))
                yield c
        finally:
            if beats is not None:
                beats.cancel()
                await asyncio.gather(beats, return_exceptions=True)
            await asyncio.gather(*(asyncio.to_thread(p.stop) for p in procs))
            for agent in agents:
                await agent.close()
            await engine.dispose()
