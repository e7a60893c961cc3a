"""Crash recovery on the real platform: SIGKILL at the worst moments, then a restart.

The two findings (a kill right after `rm`; a kill during a create) and a chaos run: a stream
of creates, executions and destroys while the whole platform is killed with SIGKILL at random
moments, at least 20 times. Afterwards the platform must be consistent: every RUNNING session
has a live container, every container of the agent belongs to a live session (or is an idle
warm-pool member), the agent's occupied slots equal the sum of its live kernels', and nothing
stays SCHEDULED, PREPARING, TERMINATING or RESTARTING.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from backendai.client.config import APIConfig
from backendai.client.session import AsyncSession
from backendai.common.agent_protocol import LABEL_AGENT_ID
from backendai.common.signing import signed_headers
from backendai.server.main import local_agent_id
from tests.fixtures.live import (
    LiveServer,
    free_port,
    load_server,
    remove_containers,
    start_server,
    stop_server,
)

pytestmark = [pytest.mark.slow, pytest.mark.docker]

KILLS = 20
TRANSITIONAL = ("SCHEDULED", "PREPARING", "PULLING", "TERMINATING", "RESTARTING")
LIVE = ("PENDING", "RUNNING", *TRANSITIONAL, "ERROR")
OCCUPYING = ("SCHEDULED", "PREPARING", "PULLING", "RUNNING", "RESTARTING", "TERMINATING")
SETTLE_S = 150.0  # the agent retry window (60 s) plus a destroy and a few heartbeats


class Platform:
    """A `backendai-server up` of its own that the test kills and starts again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.ports = (free_port(), free_port(), free_port())
        self.proc: subprocess.Popen[bytes] | None = None
        self.server: LiveServer | None = None

    async def start(self, *, agent: bool = True) -> LiveServer:
        """Start; ready once the manager answers and (``agent``) the agent too. The chaos run
        does not wait for the agent, so that some kills land before it listens."""
        self.proc = await asyncio.to_thread(start_server, self.data_dir, self.ports)
        server = self.server = load_server(self.data_dir, self.ports, self.proc.pid)
        if agent:
            await _until(lambda: "(agent not answering)" not in _kernel_ids(server), 30, "agent")
        return server

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await asyncio.to_thread(self.proc.wait)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_server(self.proc)
        remove_containers(local_agent_id(self.data_dir))

    def rows(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(self.data_dir / "backendai.db")
        try:
            return list(db.execute(query, args))
        finally:
            db.close()

    def status(self, session_id: str) -> str:
        [(status,)] = self.rows("SELECT status FROM sessions WHERE id = ?", session_id.replace(
            "-", ""))  # fmt: skip
        return str(status)


@dataclass
class User:
    endpoint: str
    access_key: str
    secret_key: str

    async def call(self, method: str, rel_url: str, body: Any = None) -> tuple[int, Any]:
        base = URL(self.endpoint)
        headers = signed_headers(
            self.access_key, self.secret_key, method=method, rel_url=rel_url,
            host=f"{base.raw_host}:{base.port}", content_type="application/json",
        )  # fmt: skip
        headers["Content-Type"] = "application/json"
        async with aiohttp.ClientSession() as http, http.request(
            method, self.endpoint + rel_url, data=None if body is None else json.dumps(body),
            headers=headers, timeout=aiohttp.ClientTimeout(total=20),
        ) as resp:  # fmt: skip
            text = await resp.text()
            return resp.status, json.loads(text) if text.startswith("{") else text

    @asynccontextmanager
    async def sdk(self) -> AsyncIterator[AsyncSession]:
        config = APIConfig(endpoints=[self.endpoint], access_key=self.access_key,
                           secret_key=self.secret_key)  # fmt: skip
        async with AsyncSession(config=config) as session:
            yield session

    async def create(self, name: str, *, enqueue_only: bool = False) -> tuple[int, Any]:
        body = {"name": name, "image": "python", "config": {}, "enqueueOnly": enqueue_only,
                "maxWaitSeconds": 10}  # fmt: skip
        return await self.call("POST", "/session", body)

    async def execute(self, name: str, code: str) -> dict[str, Any]:
        async with self.sdk() as api:
            return await api.ComputeSession(name).execute(code, mode="query")


def _user(server: LiveServer, role: str = "demo") -> User:
    creds = server.user(role)
    return User(server.endpoint, creds["access_key"], creds["secret_key"])


async def _until(check: Callable[[], Awaitable[bool] | bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"not within {within:.0f} s: {what}"
        await asyncio.sleep(0.5)


@pytest.fixture
async def platform(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Platform]:
    # More cpu slots than cores (they share them): several sessions run at once.
    monkeypatch.setenv("BACKENDAI_AGENT_CPU", "6")
    p = Platform(tmp_path_factory.mktemp("chaos"))
    await p.start()
    try:
        yield p
    finally:
        await asyncio.to_thread(p.stop)


async def test_a_kill_right_after_rm_still_ends_the_session(platform: Platform) -> None:
    assert platform.server is not None
    user = _user(platform.server)
    status, body = await user.create("killed-after-rm")
    assert status == 201 and body["status"] == "RUNNING", body
    sid = body["sessionId"]
    status, _ = await user.call("DELETE", "/session/killed-after-rm")
    assert status == 200
    await platform.kill()  # the destroy had just begun in the background
    server = await platform.start()
    await _until(lambda: platform.status(sid) == "TERMINATED", 90, "TERMINATED after restart")
    await _until(lambda: _kernel_ids(server) == set(), 30, "the container destroyed")


async def test_a_kill_during_a_create_does_not_fail_the_session(platform: Platform) -> None:
    assert platform.server is not None
    user = _user(platform.server)
    status, body = await user.create("killed-during-create", enqueue_only=True)
    assert status == 201, body
    sid = body["sessionId"]
    await _until(lambda: platform.status(sid) in ("PREPARING", "RUNNING"), 30, "launch began")
    await platform.kill()
    await platform.start()  # the scheduler may reach the agent before it listens again
    await _until(lambda: platform.status(sid) in ("RUNNING", "ERROR"), 90, "settled")
    assert platform.status(sid) == "RUNNING"
    result = await user.execute("killed-during-create", "print(6 * 7)")
    assert ["stdout", "42\n"] in [list(c) for c in result["console"]]


@dataclass
class Driver:
    """Creates, executions and destroys, as fast as the platform answers, ignoring failures
    (the platform is down half the time)."""

    users: list[User]
    rng: random.Random
    live: dict[str, User] = field(default_factory=dict)
    done: dict[str, int] = field(default_factory=dict)
    stopping: bool = False
    counter: int = 0

    def retarget(self, server: LiveServer) -> None:
        for u in self.users:
            u.endpoint = server.endpoint

    async def run(self, worker: int) -> None:
        while not self.stopping:
            try:
                await asyncio.wait_for(self.step(), 25)
                self.done["ok"] = self.done.get("ok", 0) + 1
            except Exception as e:  # the platform was killed under us: expected
                kind = type(e).__name__
                self.done[kind] = self.done.get(kind, 0) + 1
                await asyncio.sleep(0.2)

    async def step(self) -> None:
        op = self.rng.random()
        if len(self.live) < 2 or (op < 0.45 and len(self.live) < 6):
            self.counter += 1
            name = f"chaos-{self.counter}"
            user = self.rng.choice(self.users)
            self.live[name] = user
            status, _ = await user.create(name, enqueue_only=self.rng.random() < 0.3)
            if status >= 400:
                self.live.pop(name, None)
        elif op < 0.75:
            name, user = self.rng.choice(list(self.live.items()))
            await user.execute(name, "import time; time.sleep(0.1); print('ok')")
        else:
            name, user = self.rng.choice(list(self.live.items()))
            status, _ = await user.call("DELETE", f"/session/{name}")
            if status in (200, 404):
                self.live.pop(name, None)


def _kernel_ids(server: LiveServer) -> set[str]:
    try:
        return {k["kernel_id"].replace("-", "") for k in server.agent_kernels()}
    except OSError:
        return {"(agent not answering)"}


def _docker_containers(agent_id: str) -> list[dict[str, Any]]:
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={LABEL_AGENT_ID}={agent_id}"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    if not ids:
        return []
    out = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=False)
    return list(json.loads(out.stdout or "[]"))


def _slots(doc: str | None) -> dict[str, Decimal]:
    return {k: Decimal(str(v)) for k, v in json.loads(doc or "{}").items() if Decimal(str(v))}


def _problems(platform: Platform, server: LiveServer) -> list[str]:
    """What is inconsistent now (empty when all is well)."""
    problems = []
    stuck = platform.rows(
        f"SELECT name, status FROM sessions WHERE status IN ({','.join('?' * len(TRANSITIONAL))})",
        *TRANSITIONAL,
    )
    problems += [f"session {n} stays {s}" for n, s in stuck]
    running = platform.rows(
        "SELECT s.name, k.id, k.container_id FROM sessions s JOIN kernels k ON k.session_id = s.id"
        " WHERE s.status = 'RUNNING'"
    )
    try:
        agent_kernels = {k["kernel_id"].replace("-", ""): k for k in server.agent_kernels()}
    except OSError as e:
        return [*problems, f"the agent does not answer: {e}"]
    for name, kernel_id, _ in running:
        k = agent_kernels.get(str(kernel_id))
        if k is None or k["state"] != "running":
            problems.append(f"RUNNING session {name} has no live container ({k})")
    live_kernels = {
        str(kid)
        for (kid,) in platform.rows(
            "SELECT k.id FROM kernels k JOIN sessions s ON k.session_id = s.id "
            f"WHERE s.status IN ({','.join('?' * len(LIVE))})",
            *LIVE,
        )
    }
    for kernel_id in agent_kernels:
        if kernel_id not in live_kernels:
            problems.append(f"the agent runs kernel {kernel_id} of no live session")
    containers = _docker_containers(local_agent_id(platform.data_dir))
    kernel_containers = {k["container_id"] for k in agent_kernels.values()}
    idle_pool = [c for c in containers if c["Id"] not in kernel_containers
                 and "ai.backend.agent.pool" in c["Config"]["Labels"]]  # fmt: skip
    strays = [c["Name"] for c in containers if c["Id"] not in kernel_containers
              and c not in idle_pool]  # fmt: skip
    problems += [f"container {n} belongs to no kernel" for n in strays]
    per_image = Counter(c["Config"]["Image"] for c in idle_pool)
    for pooled, idle in per_image.items():  # the pool keeps pool_size (2) of each image
        if idle > 2:
            problems.append(f"{idle} idle warm-pool containers of {pooled} (pool size 2)")
    for agent_id, occupied in platform.rows("SELECT id, occupied_slots FROM agents"):
        total: dict[str, Decimal] = {}
        for (slots,) in platform.rows(
            "SELECT occupied_slots FROM kernels WHERE agent = ? "
            f"AND status IN ({','.join('?' * len(OCCUPYING))})",
            agent_id, *OCCUPYING,
        ):  # fmt: skip
            for k, v in _slots(slots).items():
                total[k] = total.get(k, Decimal(0)) + v
        if _slots(occupied) != total:
            problems.append(f"agent {agent_id} occupies {_slots(occupied)}, its kernels {total}")
    return problems


async def test_random_kills_leave_a_consistent_platform(platform: Platform) -> None:
    seed = int(time.time())
    rng = random.Random(seed)
    assert platform.server is not None
    driver = Driver([_user(platform.server), _user(platform.server, "superadmin")], rng)
    workers = [asyncio.create_task(driver.run(i)) for i in range(3)]
    try:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.3, 3.0))
            await platform.kill()
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            driver.retarget(await platform.start(agent=False))
    finally:
        driver.stopping = True
        await asyncio.gather(*workers, return_exceptions=True)
    server = platform.server
    assert server is not None
    print(f"seed {seed}: {KILLS} kills; operations: {driver.done}")
    assert driver.done.get("ok", 0) >= KILLS  # the platform did work between the kills
    last: list[str] = []

    def consistent() -> bool:
        nonlocal last
        last = _problems(platform, server)
        return not last

    with suppress(AssertionError):
        await _until(consistent, SETTLE_S, "consistent")
    assert last == [], f"seed {seed}: {last}"
    # And it still works: the sessions go, a new one runs code.
    for name, owner in driver.live.items():
        owner.endpoint = server.endpoint
        await owner.call("DELETE", f"/session/{name}")
    user = _user(server)
    status, body = await user.create("after-the-chaos")
    assert status == 201, body
    # The deletes above free the agent while this start waits its turn (the keypair's
    # concurrency, a drained warm pool on a busy machine): it must run, but need not within
    # the 10 s the create call waits.
    session_id = body["sessionId"]
    with suppress(AssertionError):
        await _until(lambda: platform.status(session_id) == "RUNNING", 120, "after-the-chaos")
    [(final, info)] = platform.rows(
        "SELECT status, status_info FROM sessions WHERE id = ?", session_id.replace("-", "")
    )
    assert final == "RUNNING", f"seed {seed}: after-the-chaos is {final} ({info})"
    result = await user.execute("after-the-chaos", "print('still here')")
    assert ["stdout", "still here\n"] in [list(c) for c in result["console"]]
