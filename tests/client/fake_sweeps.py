"""The batch-task routes of the fake manager (``common.batch_tasks``), scripted by tests.

* ``POST SESSION_SWEEPS`` expands the request's ranges with ``common.sweep_ranges`` (as the
  manager does) into cases named ``{name}-{i}``; ``outcome(index, case)`` gives each case's
  exit code and log. Every ``GET SESSION_SWEEP`` moves each case one step along
  PENDING -> RUNNING -> TERMINATED (with its result), so a client polling sees progress.
* ``GET SESSION_TASK_LOGS`` answers ``task_logs[session id]`` in the chunks given (404 for
  an unknown task), pausing between chunks when following.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from backendai.common.batch_tasks import (
    SESSION_SWEEP,
    SESSION_SWEEPS,
    SESSION_TASK_LOGS,
    BatchTask,
    SweepCase,
    SweepInfo,
    SweepRequest,
)
from backendai.common.sweep_ranges import Case, expand_cases, parse_range
from tests.client.fake_server import problem

if TYPE_CHECKING:
    from tests.client.fake_server import FakeBackend

Outcome = Callable[[int, Case], tuple[int, bytes]]
STEPS = ("PENDING", "RUNNING", "TERMINATED")


def default_outcome(index: int, case: Case) -> tuple[int, bytes]:
    env = " ".join(f"{k}={v}" for k, v in case.envs)
    return 0, f"case {index} {env}\n".encode()


@dataclass
class FakeCase:
    index: int
    name: str
    environ: dict[str, str]
    task: str
    exit_code: int
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    step: int = 0
    cancelled: bool = False

    def wire(self) -> SweepCase:
        status = "CANCELLED" if self.cancelled else STEPS[self.step]
        result = "UNDEFINED"
        if status == "TERMINATED":
            result = "SUCCESS" if self.exit_code == 0 else "FAILURE"
        return SweepCase(
            index=self.index,
            session_id=self.id,
            session_name=self.name,
            environ=self.environ,
            task=self.task,
            status=status,
            result=result,
            exit_code=self.exit_code if status == "TERMINATED" else None,
        )


@dataclass
class FakeSweep:
    request: SweepRequest
    cases: list[FakeCase]
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime(2026, 1, 2, 3, 4, tzinfo=UTC))

    def wire(self) -> SweepInfo:
        cases = [case.wire() for case in self.cases]
        counts = {"pending": 0, "running": 0, "success": 0, "failure": 0, "cancelled": 0}
        for case in cases:
            key = {"PENDING": "pending", "RUNNING": "running", "CANCELLED": "cancelled"}.get(
                case.status, "success" if case.result == "SUCCESS" else "failure"
            )
            counts[key] += 1
        return SweepInfo(
            id=self.id,
            name=self.request.name or "sweep",
            image=self.request.image,
            created_at=self.created_at,
            cases=len(cases),
            counts=counts,
            finished=all(c.status in ("TERMINATED", "CANCELLED") for c in cases),
            case_list=cases,
        )


@dataclass
class SweepRoutes:
    backend: FakeBackend
    sweeps: dict[uuid.UUID, FakeSweep] = field(default_factory=dict)
    outcome: Outcome = default_outcome
    task_logs: dict[uuid.UUID, list[bytes]] = field(default_factory=dict)
    log_queries: list[dict[str, str]] = field(default_factory=list)
    create_error: tuple[int, str, str] | None = None
    advance: bool = True  # False: cases stay where they are (a sweep that never ends)

    def add_routes(self, app: web.Application) -> None:
        for prefix in ("", "/func"):
            app.router.add_get(prefix + SESSION_TASK_LOGS, self._task_logs)
            app.router.add_post(prefix + SESSION_SWEEPS, self._create)
            app.router.add_get(prefix + SESSION_SWEEPS, self._list)
            app.router.add_get(prefix + SESSION_SWEEP, self._get)
            app.router.add_delete(prefix + SESSION_SWEEP, self._cancel)

    def only(self) -> FakeSweep:
        (sweep,) = self.sweeps.values()
        return sweep

    async def _task_logs(self, request: web.Request) -> web.StreamResponse:
        if denied := self.backend._authenticate(request):
            return denied
        self.log_queries.append(dict(request.query))
        try:
            chunks = self.task_logs[uuid.UUID(request.query.get("taskId", ""))]
        except (ValueError, KeyError):
            return problem(404, "task-not-found", "No such task.")
        resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for chunk in chunks:
            await resp.write(chunk)
            if request.query.get("follow") != "0":
                await asyncio.sleep(0.01)
        await resp.write_eof()
        return resp

    async def _create(self, request: web.Request) -> web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        if self.create_error is not None:
            status, slug, title = self.create_error
            return problem(status, slug, title)
        body = SweepRequest.model_validate(await request.json())
        cases = expand_cases(
            body.environ,
            body.build,
            body.exec,
            env_ranges=[parse_range(r) for r in body.env_range],
            build_ranges=[parse_range(r) for r in body.build_range],
            exec_ranges=[parse_range(r) for r in body.exec_range],
        )
        fakes = []
        for index, case in enumerate(cases):
            exit_code, log = self.outcome(index, case)
            task = (
                BatchTask(mode="query", code=body.code)
                if body.code is not None
                else BatchTask(mode="batch", clean=body.clean, build=case.build, exec=case.exec)
            )
            fake = FakeCase(index, f"{body.name}-{index}", dict(case.envs), task.describe(),
                            exit_code)  # fmt: skip
            self.task_logs[fake.id] = [log[i : i + 7] for i in range(0, len(log), 7)]
            fakes.append(fake)
        sweep = FakeSweep(body, fakes)
        self.sweeps[sweep.id] = sweep
        return web.json_response(self._dump(sweep), status=201)

    def _dump(self, sweep: FakeSweep) -> dict[str, Any]:
        data: dict[str, Any] = sweep.wire().model_dump(mode="json", by_alias=True)
        return data

    def _lookup(self, request: web.Request) -> FakeSweep | web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        try:
            return self.sweeps[uuid.UUID(request.match_info["sweep_id"])]
        except (ValueError, KeyError):
            return problem(404, "sweep-not-found", "No such sweep.")

    async def _list(self, request: web.Request) -> web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        summaries = []
        for sweep in self.sweeps.values():
            info = sweep.wire().model_dump(mode="json")
            info.pop("case_list")
            summaries.append(info)
        return web.json_response({"sweeps": summaries})

    async def _get(self, request: web.Request) -> web.Response:
        sweep = self._lookup(request)
        if isinstance(sweep, web.Response):
            return sweep
        if self.advance:
            for case in sweep.cases:
                case.step = min(case.step + 1, len(STEPS) - 1)
        return web.json_response(self._dump(sweep))

    async def _cancel(self, request: web.Request) -> web.Response:
        sweep = self._lookup(request)
        if isinstance(sweep, web.Response):
            return sweep
        for case in sweep.cases:
            if STEPS[case.step] != "TERMINATED":
                case.cancelled = True
        return web.json_response(self._dump(sweep))
