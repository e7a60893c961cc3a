"""Batch sessions' tasks on this agent: run once through the kernel's runner, logged on the host.

The contract is ``backendai.common.batch_tasks`` (its "Agent" section). A task starts after the
kernel is ready and its bootstrap script succeeded, in the background: the create call answers
first. The runner's result frames go, in order, to the kernel's task log (``task_log``),
bounded by ``[agent] task_log_limit``. When the task ends its exit code goes into the state file
and into an event for the manager (``events``, which the heartbeat's forwarder posts), and every
heartbeat carries it from then on (``exit_code``).

A restarted agent reads the state files of the kernels it re-adopts (``adopt``): a task that
was running lost its runner connection with the old agent, and the runner ended it; it is
finished as interrupted. A task recorded but never sent to the runner is started then.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from backendai.agent.backends.protocol import ContainerBackend
from backendai.agent.errors import ContainerNotFound, TaskNotFound
from backendai.agent.runner.channels import killed_for_memory
from backendai.agent.runner_link import RunnerLink
from backendai.agent.settings import AgentSettings
from backendai.agent.task_log import LogReader, LogWriter, TaskRecord, read_record, write_record
from backendai.common.agent_protocol import ContainerState, KernelEvent, KernelEventKind
from backendai.common.batch_tasks import (
    TASK_INTERRUPTED_EXIT,
    BatchTask,
    TaskState,
    truncation_note,
)
from backendai.common.errors import PlatformError

if TYPE_CHECKING:
    from backendai.agent.kernels import Kernel

log = logging.getLogger(__name__)

OOM_EXIT = 137  # what a shell reports for a process killed by SIGKILL, as the OOM killer does
# A follower wakes on every write; this only bounds how long a missed wake-up could last.
FOLLOW_WAKE_LIMIT = 1.0
EVENT_BACKLOG = 1024  # unsent events kept; past it the heartbeats still carry the exit codes
RESTARTED_NOTE = (
    "\n[backend.ai: the agent restarted while the task ran, which interrupted the task]\n"
)


class TaskLogQuery(BaseModel):
    """``GET AGENT_TASK_LOG``'s query."""

    offset: int = Field(default=0, ge=0, description="The byte of the log to start from.")
    follow: bool = Field(
        default=False, description="1: go on as output comes, until the task ended."
    )


@dataclass
class _Entry:
    """A kernel's task as this agent knows it now."""

    root: Path
    record: TaskRecord
    # Replaced on every change: a follower waits on the one it saw before it read.
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    run: asyncio.Task[None] | None = None
    gone: bool = False  # the kernel is being destroyed: followers stop

    def notify(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()


class BatchTasks:
    def __init__(self, settings: AgentSettings, backend: ContainerBackend) -> None:
        self.limit = settings.task_log_limit
        self.agent_id = settings.id
        self.backend = backend
        self.events: asyncio.Queue[KernelEvent] = asyncio.Queue(maxsize=EVENT_BACKLOG)
        self._entries: dict[uuid.UUID, _Entry] = {}

    # --- the kernel's side: start, adopt, forget ---------------------------------------------

    async def start(self, kernel: Kernel, task: BatchTask) -> None:
        """Record the task, then run it in the background."""
        root = kernel.paths.root
        record = TaskRecord(task=task)
        await asyncio.to_thread(write_record, root, record)
        entry = self._entries[kernel.kernel_id] = _Entry(root, record)
        self._spawn(kernel, entry)

    async def adopt(self, kernel: Kernel) -> None:
        """Take back a kernel's task after an agent restart (see the module's docstring)."""
        root = kernel.paths.root
        record = await asyncio.to_thread(read_record, root)
        if record is None:
            return
        entry = self._entries[kernel.kernel_id] = _Entry(root, record)
        if record.state == "not-started":
            self._spawn(kernel, entry)
        elif record.state == "running":
            log.warning(
                "the task of kernel %s was interrupted by an agent restart", kernel.kernel_id
            )
            writer = await asyncio.to_thread(LogWriter, root, self.limit)
            await self._finish(
                kernel.kernel_id, entry, writer, TASK_INTERRUPTED_EXIT, RESTARTED_NOTE
            )

    async def forget(self, kernel_id: uuid.UUID) -> None:
        """The kernel is going away: stop its run (the runner ends the task when the link
        drops) and its followers. Its files go with the kernel's directory."""
        entry = self._entries.pop(kernel_id, None)
        if entry is None:
            return
        entry.gone = True
        entry.notify()
        if entry.run is not None:
            entry.run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await entry.run

    async def close(self) -> None:
        """Stop every run (the agent stops): their states stay ``running`` on disk, so the
        next agent finishes them as interrupted."""
        runs = [e.run for e in self._entries.values() if e.run is not None]
        for run in runs:
            run.cancel()
        for run in runs:
            with contextlib.suppress(asyncio.CancelledError):
                await run

    # --- what the manager reads --------------------------------------------------------------

    def exit_code(self, kernel_id: uuid.UUID) -> int | None:
        entry = self._entries.get(kernel_id)
        return entry.record.exit_code if entry is not None else None

    def state(self, kernel_id: uuid.UUID) -> tuple[TaskState, int | None]:
        record = self._entry(kernel_id).record
        return record.state, record.exit_code

    async def read(
        self, kernel_id: uuid.UUID, offset: int, follow: bool
    ) -> AsyncGenerator[bytes, None]:
        """The log from byte ``offset``; with ``follow`` until the task ended and all was read."""
        entry = self._entry(kernel_id)
        reader = LogReader(entry.root, offset)
        try:
            while True:
                changed = entry.changed
                # Seen before reading: a finished task's log is complete by then.
                ended = entry.record.state == "finished" or entry.gone
                data = await asyncio.to_thread(reader.read)
                if data:
                    yield data
                    continue
                if ended or not follow:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), FOLLOW_WAKE_LIMIT)
        finally:
            reader.close()

    def _entry(self, kernel_id: uuid.UUID) -> _Entry:
        entry = self._entries.get(kernel_id)
        if entry is None:
            raise TaskNotFound(f"The kernel {kernel_id} has no batch task.")
        return entry

    # --- a run -------------------------------------------------------------------------------

    def _spawn(self, kernel: Kernel, entry: _Entry) -> None:
        entry.run = asyncio.create_task(self._run(kernel, entry), name=f"task-{kernel.kernel_id}")

    async def _run(self, kernel: Kernel, entry: _Entry) -> None:
        writer = await asyncio.to_thread(LogWriter, entry.root, self.limit)
        try:
            code, note = await self._relay(kernel, entry, writer)
        except asyncio.CancelledError:
            writer.close()
            raise
        except Exception:
            log.exception("the task of kernel %s failed in the agent", kernel.kernel_id)
            code, note = TASK_INTERRUPTED_EXIT, "\n[backend.ai: the agent could not run the task]\n"
        await self._finish(kernel.kernel_id, entry, writer, code, note)

    async def _relay(self, kernel: Kernel, entry: _Entry, writer: LogWriter) -> tuple[int, str]:
        """The runner's frames into the log; the exit code and a note to end the log with."""
        try:
            link = await RunnerLink.connect(kernel.paths.socket)
        except OSError:
            return await self._lost(kernel)
        try:
            # Recorded before the runner has it: a restarted agent must never run it twice.
            await self._set_state(entry, "running")
            await link.send({"op": "run", **entry.record.task.runner_request()})
            while True:
                try:
                    frame = json.loads(await link.receive_line() or b"null")
                except (OSError, ValueError, asyncio.IncompleteReadError):
                    frame = None
                if not isinstance(frame, dict):  # the runner went away (or is not one)
                    return await self._lost(kernel)
                text = _console_text(frame)
                if text:
                    await asyncio.to_thread(writer.write, text.encode(errors="replace"))
                    entry.notify()
                status = frame.get("status")
                if status == "waiting-input":  # nobody is there to answer: an empty line
                    await link.send({"op": "input", "data": ""})
                elif status == "finished":
                    code = frame.get("exitCode")
                    return (code if isinstance(code, int) else 1), ""
        finally:
            await link.close()

    async def _lost(self, kernel: Kernel) -> tuple[int, str]:
        """The exit code and note of a task whose runner vanished: what became of it."""
        if kernel.out_of_memory:
            return OOM_EXIT, killed_for_memory(kernel.memory_limit())
        try:
            record = await self.backend.inspect(kernel.container_id)
        except (ContainerNotFound, PlatformError):
            return TASK_INTERRUPTED_EXIT, "\n[backend.ai: the kernel's container is gone]\n"
        if record.oom_killed:
            return OOM_EXIT, killed_for_memory(kernel.memory_limit(record.memory))
        if record.state is ContainerState.RUNNING:
            return TASK_INTERRUPTED_EXIT, "\n[backend.ai: the kernel's runner stopped]\n"
        code = record.exit_code or TASK_INTERRUPTED_EXIT
        return code, f"\n[backend.ai: the kernel's container stopped (exit code {code})]\n"

    async def _set_state(self, entry: _Entry, state: TaskState, code: int | None = None) -> None:
        record = entry.record.model_copy(update={"state": state, "exit_code": code})
        with contextlib.suppress(OSError):  # the kernel's directory is being removed
            await asyncio.to_thread(write_record, entry.root, record)
        entry.record = record
        entry.notify()

    async def _finish(
        self, kernel_id: uuid.UUID, entry: _Entry, writer: LogWriter, code: int, note: str
    ) -> None:
        def close_log() -> None:
            try:
                if note:
                    writer.append_note(note)
                if writer.dropped:
                    writer.append_note(truncation_note(writer.dropped))
            finally:
                writer.close()

        with contextlib.suppress(OSError):
            await asyncio.to_thread(close_log)
        await self._set_state(entry, "finished", code)
        log.info("the task of kernel %s ended with exit code %d", kernel_id, code)
        event = KernelEvent(
            agent_id=self.agent_id,
            kernel_id=kernel_id,
            kind=KernelEventKind.TASK_FINISHED,
            reason="task-finished",
            exit_code=code,
            message=f"The batch task exited with code {code}.",
        )
        try:
            self.events.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("too many unsent task events: kernel %s's is left to heartbeats", kernel_id)


def _console_text(frame: dict[str, Any]) -> str:
    """The stdout and stderr text of a result frame, in order (anything else is dropped)."""
    console = frame.get("console")
    if not isinstance(console, list):
        return ""
    return "".join(
        item[1]
        for item in console
        if isinstance(item, list)
        and len(item) == 2
        and item[0] in ("stdout", "stderr")
        and isinstance(item[1], str)
    )
