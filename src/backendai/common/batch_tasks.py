"""Batch sessions, their task logs and server-side sweeps: the wire contract between the
manager, the agent and clients, one pydantic model per payload.

A batch session runs one task, once, and ends by itself; the task's exit code becomes the
session's result (0: SUCCESS, anything else: FAILURE) and its output (stdout and stderr
interleaved, as written) is the session's **task log**, kept after the session ended.

Task
====

``BatchTask`` is what the task runs, in the terms of the in-container runner's execution
modes: ``batch`` (the clean/build/exec shell commands, what ``start --type batch -c COMMAND``
and ``run --type batch --exec CMD`` give) or ``query`` (code run by the image's interpreter,
what ``run --type batch -c CODE`` gives). The manager stores it in ``sessions.task`` and sends
it in ``KernelCreateRequest.task``. A batch session created by Backend.AI's client has only a
``startupCommand``: its task is ``BatchTask.shell(startupCommand)``.

Agent
=====

- After the container is ready and the bootstrap script (the template's git clone included)
  succeeded, the agent runs the task through the runner, as the session's user in
  ``/home/work``, with the session's environment. It answers the create call first: the task
  runs in the background, so a quick task may end before the manager saw the session RUNNING.
- Output goes to a host-side file of the kernel (never a path the container can change),
  bounded by ``[agent] task_log_limit`` bytes (``TASK_LOG_LIMIT``): past it output is counted
  and dropped, and ``truncation_note(dropped)`` is appended when the task ends.
- When the task ends the agent posts a ``KernelEvent`` of kind ``TASK_FINISHED`` with the exit
  code (the runner's; a task killed for memory: 137), and reports it in every heartbeat
  afterwards (``ContainerInfo.task_exit_code``) until the kernel is destroyed, so a manager
  that missed the event (restarting) still learns it.
- A task that cannot go on because the agent restarted (the runner ends a run whose link
  dropped) ends with ``TASK_INTERRUPTED_EXIT`` and a line saying so in its log.
- ``GET AGENT_TASK_LOG?offset=N&follow=0|1`` (agent token header): the log from byte ``N``, as
  ``text/plain`` (chunked). With ``follow=1`` the answer goes on as output comes and ends when
  the task has ended and everything was sent. Headers: ``TASK_STATE_HEADER`` is ``running``,
  ``finished`` or ``not-started``; ``TASK_EXIT_HEADER`` the exit code once finished. A kernel
  without a task: 404.

Manager
=======

- On ``TASK_FINISHED`` (or a heartbeat showing ``task_exit_code``) for a live batch session:
  result SUCCESS/FAILURE, ``status_data["exit_code"]``, the task log copied from the agent into
  ``task_log_chunks`` (``TASK_LOG_CHUNK`` bytes per row), then the session is terminated
  (status info ``task-finished``). A batch session terminated before its task ended (``rm``,
  a failure) keeps the log written so far the same way.
- ``GET SESSION_TASK_LOGS?taskId=<session id>[&follow=0|1]`` (signed; API_CONTRACT §2.12):
  ``text/plain`` chunked, the raw log. ``follow`` defaults to 1: while the task runs the body
  goes on until it ended (a pending session is waited for); ``follow=0`` answers what there is
  now. The task id is the session's id (``ps -f task_id``). Another user's task: 404, as for
  one that does not exist.

Sweeps
======

A sweep is one request for N batch sessions, one per combination of its range variables
(``common.sweep_ranges``), queued by the scheduler like any session: it needs no client once
submitted. ``POST SESSION_SWEEPS`` ``SweepRequest`` -> 201 ``SweepInfo``; ``GET SESSION_SWEEPS``
-> ``{"sweeps": [SweepSummary]}`` (the caller's); ``GET SESSION_SWEEP`` -> ``SweepInfo`` with each
case's session, status, result and exit code; ``DELETE SESSION_SWEEP`` -> ``SweepInfo`` after
cancelling the cases not started and terminating those running. Case ``i`` (0-based, the
order of ``expand_cases``) is the session ``{name}-{i}``, of type batch, tagged with the sweep.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AGENT_TASK_LOG = "/v1/kernels/{kernel_id}/task-log"
TASK_STATE_HEADER = "X-BackendAI-Task-State"
TASK_EXIT_HEADER = "X-BackendAI-Task-Exit-Code"

SESSION_TASK_LOGS = "/session/_/logs"
SESSION_SWEEPS = "/session/_/sweeps"
SESSION_SWEEP = "/session/_/sweeps/{sweep_id}"

TASK_LOG_LIMIT = 8 * 1024 * 1024  # default of [agent] task_log_limit
TASK_LOG_CHUNK = 256 * 1024  # bytes per stored row, and the most a reader holds at once
TASK_INTERRUPTED_EXIT = 255
MAX_SWEEP_CASES = 1000
MAX_TASK_CODE = 1024 * 1024

TaskState = Literal["not-started", "running", "finished"]


def truncation_note(dropped: int) -> str:
    return (
        f"\n[backend.ai: the task log keeps the first bytes of output only; {dropped} more "
        "bytes were not kept]\n"
    )


class BatchTask(BaseModel):
    """What a batch session runs once (the runner's execution request)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["batch", "query"] = Field(
        description="batch: clean/build/exec shell commands; query: code for the image's "
        "interpreter."
    )
    code: str = Field(default="", max_length=MAX_TASK_CODE, description="query mode's code.")
    clean: str | None = Field(default=None, max_length=64 * 1024)
    build: str | None = Field(default=None, max_length=64 * 1024)
    exec: str | None = Field(default=None, max_length=64 * 1024)

    @classmethod
    def shell(cls, command: str) -> BatchTask:
        return cls(mode="batch", exec=command)

    def runner_request(self) -> dict[str, object]:
        """The runner's ``{"op": "run", ...}`` fields for this task."""
        if self.mode == "query":
            return {"mode": "query", "code": self.code, "options": {}}
        options = {"clean": self.clean, "build": self.build, "exec": self.exec}
        return {"mode": "batch", "code": "", "options": options}

    def describe(self) -> str:
        """One line for listings: the command, or the first line of the code."""
        if self.mode == "query":
            first = self.code.strip().splitlines()[0] if self.code.strip() else ""
            return first if len(first) <= 80 else first[:77] + "..."
        return self.exec or ""


class SweepRequest(BaseModel):
    """``POST SESSION_SWEEPS``: the cases of a parametric run, as ``run --type batch`` sends
    them (the same options as ``POST /session``, plus the task and the ranges)."""

    model_config = ConfigDict(populate_by_name=True)

    name: str | None = Field(
        default=None, max_length=60, description="Prefix of the cases' session names."
    )
    image: str = Field(min_length=1, max_length=512)
    code: str | None = Field(default=None, max_length=MAX_TASK_CODE, description="-c CODE")
    clean: str | None = Field(default=None, max_length=64 * 1024)
    build: str | None = Field(default=None, max_length=64 * 1024)
    exec: str | None = Field(default=None, max_length=64 * 1024)
    environ: dict[str, str] = Field(
        default_factory=dict, description="-e values; $VAR is filled from env_range."
    )
    env_range: list[str] = Field(default_factory=list, max_length=16)
    build_range: list[str] = Field(default_factory=list, max_length=16)
    exec_range: list[str] = Field(default_factory=list, max_length=16)
    config: dict[str, object] = Field(
        default_factory=dict, description="As POST /session's config (resources, mounts, ...)."
    )
    tag: str | None = Field(default=None, max_length=64)
    bootstrap_script: str | None = Field(default=None, max_length=1024 * 1024)
    starts_at: str | None = Field(default=None, max_length=64)
    domain: str | None = None
    group: str | None = None
    owner_access_key: str | None = None


class SweepCase(BaseModel):
    index: int
    session_id: uuid.UUID
    session_name: str
    environ: dict[str, str]
    task: str = Field(description="BatchTask.describe() of the case's task.")
    status: str
    result: str
    exit_code: int | None = None


class SweepSummary(BaseModel):
    id: uuid.UUID
    name: str
    image: str
    created_at: datetime
    cases: int
    counts: dict[str, int] = Field(
        description="Cases per state: pending, running, success, failure, cancelled."
    )
    finished: bool


class SweepInfo(SweepSummary):
    case_list: list[SweepCase] = Field(alias="caseList", serialization_alias="caseList")

    model_config = ConfigDict(populate_by_name=True)
