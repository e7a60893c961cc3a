"""The API fuzzer: schemathesis against the in-process manager, from docs/openapi.yaml.

One test per operation of the document, through schemathesis's pytest integration: its examples,
its coverage phase (boundary values, wrong types, missing and extra fields) and hypothesis
fuzzing, with data that fits the document and data that does not. Every request is signed as
the plain user ``demo``, the way Backend.AI's client signs it. No answer may be a 5xx.

The manager runs with a fake agent in a thread of its own (schemathesis speaks through the
blocking ``requests``), on loopback, with one live session named as the document's example of
a session reference, so that the session routes reach past the lookup into the agent calls.
Its name, its UUID and a UUID prefix stand in for part of the generated references.

Left out, as the document marks them: the streams (``x-stream``: the WebSocket execute and pty
routes, the SSE events route) and the agents' own routes (``x-internal``: a fuzzed heartbeat would
register made-up agents at made-up addresses). The route test below still holds them to the
document.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import sqlalchemy as sa
import yaml
from hypothesis import HealthCheck, settings

from backendai.common.signing import signed_headers
from backendai.manager.app import create_app
from backendai.manager.db.models import KeyPairResourcePolicy
from backendai.manager.settings import ManagerSettings
from tests.fixtures.platform import ManagerHarness, running_manager
from tests.manager.conftest import FAST
from tests.manager.fake_agent import FakeAgent

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
DOC: dict[str, Any] = yaml.safe_load(DOC_PATH.read_text())
LEFT_OUT = {
    op["operationId"]
    for item in DOC["paths"].values()
    for op in item.values()
    if isinstance(op, dict) and ("x-stream" in op or "x-internal" in op)
}
SCHEMA = schemathesis.openapi.from_path(DOC_PATH).exclude(operation_id=sorted(LEFT_OUT))
# The session the fuzzer keeps alive: the document's example of a session reference.
LIVE = DOC["components"]["parameters"]["SessionRef"]["examples"]["name"]["value"]
FUZZ_EXAMPLES = 120  # per operation, after the examples and coverage phases: ~1.5 min in all
# A login hashes a password (bcrypt, slow on purpose): only so many of those are sent.
MAX_LOGINS = 25
REQUEST_TIMEOUT_S = 20


@dataclass
class FuzzRun:
    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    logins: int = 0


class SigningSession(requests.Session):
    """Signs every request just before it leaves, over exactly the path and query sent."""

    def __init__(self, access_key: str, secret_key: str, host: str, run: FuzzRun) -> None:
        super().__init__()
        self.keys = (access_key, secret_key)
        self.host = host
        self.run = run

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        content_type = str(request.headers.get("Content-Type", ""))
        bare = content_type.split(";")[0].strip().lower() or "application/octet-stream"
        request.headers.update(
            signed_headers(*self.keys, method=str(request.method), rel_url=request.path_url,
                           host=self.host, content_type=bare)
        )  # fmt: skip
        self.run.requests += 1
        return super().send(request, **kwargs)


class ManagerThread:
    """The in-process manager and a fake agent, on an event loop in a thread of their own."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp_path = tmp_path
        self._ready: Future[ManagerHarness] = Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> ManagerHarness:
        self._thread.start()
        return self._ready.result(timeout=60)

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=60)

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        # Room for whatever may be asked (at most 1000000 cores): the limits are not the subject.
        agent = FakeAgent(cpu=1_000_000, mem=2**62)
        await agent.start()
        try:
            async with running_manager(self._tmp_path, **FAST) as platform:
                async with platform.ctx.db() as db, db.begin():
                    await db.execute(
                        sa.update(KeyPairResourcePolicy).values(max_concurrent_sessions=500)
                    )
                assert await agent.send_heartbeat(platform) == 200  # its images are known
                beats = asyncio.create_task(self._heartbeats(agent, platform))
                self._ready.set_result(platform)
                await self._stop.wait()
                beats.cancel()
        except BaseException as e:
            if not self._ready.done():
                self._ready.set_exception(e)
            raise
        finally:
            await agent.close()

    async def _heartbeats(self, agent: FakeAgent, platform: ManagerHarness) -> None:
        while True:  # it stays alive (not LOST) through the run
            await asyncio.sleep(2)
            await agent.send_heartbeat(platform)


@dataclass
class Target:
    base: str
    http: SigningSession
    run: FuzzRun
    refs: list[str] = field(default_factory=list)

    def ensure_live(self) -> None:
        """The fuzzer's own RUNNING session (created again after a fuzzed DELETE ended it)."""
        resp = self.http.post(f"{self.base}/session", json={"name": LIVE, "image": "python",
                              "maxWaitSeconds": 30}, timeout=90)  # fmt: skip
        assert resp.status_code in (200, 201), resp.text
        sid = resp.json()["sessionId"]
        self.refs = [LIVE, sid, sid[:8]]

    def aim(self, case: schemathesis.Case) -> None:
        """Point part of the cases at the live session, and keep creates from waiting long.
        Derived from the case itself, so that a run repeats exactly."""
        digest = hashlib.sha256(repr((case.path_parameters, case.query, case.body)).encode())
        pick = digest.digest()[0]
        if case.path_parameters and "name" in case.path_parameters and pick % 2 == 0:
            case.path_parameters = {**case.path_parameters, "name": self.refs[pick % 3]}
        body = case.body
        if case.operation.path == "/session" and isinstance(body, dict):
            # Never left waiting for a queued session past the request's timeout (0 and the
            # default mean no limit); a wait that is itself bad input stays as generated.
            wait = body.get("maxWaitSeconds", 0)
            if type(wait) is int and (wait == 0 or wait > 2):
                case.body = {**body, "maxWaitSeconds": 2}


@pytest.fixture(scope="module")
def fuzz_target(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Target]:
    run = FuzzRun()
    started = time.monotonic()
    with ManagerThread(tmp_path_factory.mktemp("fuzz")) as platform:
        creds = platform.users.demo
        http = SigningSession(creds.access_key, creds.secret_key, platform.host, run)
        target = Target(platform.url, http, run)
        target.ensure_live()
        yield target
    took = time.monotonic() - started
    line = (f"fuzzer: {run.requests} requests in {took:.0f} s, {len(run.server_errors)} answers "
            f">= 500; statuses {dict(sorted(run.by_status.items()))}")  # fmt: skip
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown even when output is captured
            reporter.write_line("\n" + line)


@pytest.mark.slow
@SCHEMA.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
def test_fuzz(case: schemathesis.Case, fuzz_target: Target) -> None:
    run = fuzz_target.run
    if _logs_in(case):
        if run.logins >= MAX_LOGINS:
            return
        run.logins += 1
    fuzz_target.aim(case)
    resp = case.call(base_url=fuzz_target.base, session=fuzz_target.http,
                     timeout=REQUEST_TIMEOUT_S)  # fmt: skip
    run.by_status[resp.status_code] += 1
    name = (case.path_parameters or {}).get("name")
    if case.method.upper() in ("DELETE", "PATCH") and name in fuzz_target.refs:
        fuzz_target.ensure_live()
    if resp.status_code >= 500:
        sent = case.body if not isinstance(case.body, bytes | bytearray) else "<bytes>"
        report = (f"{case.method} {case.formatted_path} query={case.query} "
                  f"body={str(sent)[:300]} -> {resp.status_code} {resp.text[:300]}")  # fmt: skip
        run.server_errors.append(report)
        pytest.fail(report)


def _logs_in(case: schemathesis.Case) -> bool:
    """Whether the case is a login the manager will hash a password for."""
    body = case.body
    return (
        case.operation.path == "/auth/authorize"
        and case.method.upper() == "POST"
        and isinstance(body, dict)
        and all(isinstance(body.get(k), str) and body.get(k) for k in ("username", "password"))
    )


def test_every_route_is_in_the_document(tmp_path: Path) -> None:
    """docs/openapi.yaml is hand-kept: it must name every route the manager registers."""
    app = create_app(ManagerSettings(data_dir=tmp_path, db_url=f"sqlite:///{tmp_path}/m.db"))
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = {
        (method, path)
        for path, item in DOC["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert served == documented
    for path in DOC["paths"]:  # the path parameters the handlers read
        assert set(re.findall(r"{(\w+)}", path)) <= {"name", "app", "sweep_id", "template_id"}
    streams_and_agents = {"executeStream", "ptyStream", "sessionEvents", "agentHeartbeat",
                          "agentKernelEvent", "backgroundTaskEvents", "tcpproxyStream",
                          "httpproxyStream", "appproxyRoutes", "appproxyActivity",
                          "batchTaskLogs"}  # fmt: skip
    assert streams_and_agents == LEFT_OUT
