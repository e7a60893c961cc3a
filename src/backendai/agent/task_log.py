"""A batch task's files on the host: its bounded log and its state, in the kernel's directory.

Both live in ``kernels/<kernel-id>/`` beside ``home/`` and ``ipc/``, never inside them: that
directory is the agent's, which no container mounts, so a session cannot read, replace or
link them. They are still opened with ``O_NOFOLLOW``, and every call here blocks: callers run
them off the event loop (``asyncio.to_thread``).

The state file is what a restarted agent knows of the task: the task itself until it started
(so a task that never got to the runner can still be started), then ``running``, then
``finished`` with the exit code.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from pydantic import BaseModel, ValidationError

from backendai.common.batch_tasks import BatchTask, TaskState

LOG_FILE = "task.log"
STATE_FILE = "task.json"
READ_CHUNK = 64 * 1024  # the most a log reader holds at once
_OPEN_FLAGS = os.O_CLOEXEC | os.O_NOFOLLOW


class TaskRecord(BaseModel):
    """The content of the state file."""

    task: BatchTask
    state: TaskState = "not-started"
    exit_code: int | None = None


def log_path(root: Path) -> Path:
    return root / LOG_FILE


def state_path(root: Path) -> Path:
    return root / STATE_FILE


def read_record(root: Path) -> TaskRecord | None:
    """The kernel's task record; None when it has no task (or the file is unreadable)."""
    try:
        fd = os.open(state_path(root), os.O_RDONLY | _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(2 * 1024 * 1024)  # a task's code is at most 1 MiB, JSON-escaped
    try:
        return TaskRecord.model_validate_json(data)
    except ValidationError:
        return None


def write_record(root: Path, record: TaskRecord) -> None:
    """Replace the state file atomically: a crash leaves the old state or the new one."""
    temporary = root / (STATE_FILE + ".new")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(record.model_dump_json().encode())
    os.replace(temporary, state_path(root))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class LogWriter:
    """Appends output to the log until it holds ``limit`` bytes; counts what it drops."""

    def __init__(self, root: Path, limit: int) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | _OPEN_FLAGS
        self.fd = os.open(log_path(root), flags, 0o600)
        self.limit = limit
        # An agent that restarted appends to what its predecessor wrote.
        self.written = os.fstat(self.fd).st_size
        self.dropped = 0

    def write(self, data: bytes) -> None:
        keep = data[: max(0, self.limit - self.written)]
        self.dropped += len(data) - len(keep)
        if keep:
            _write_all(self.fd, keep)
            self.written += len(keep)

    def append_note(self, text: str) -> None:
        """Text the platform adds at the end (past the limit: a note is never dropped)."""
        data = text.encode()
        _write_all(self.fd, data)
        self.written += len(data)

    def close(self) -> None:
        # Once only: a descriptor number closed twice may be another file's by then.
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


class LogReader:
    """Reads the log from an offset, a chunk of at most ``READ_CHUNK`` bytes at a time."""

    def __init__(self, root: Path, offset: int) -> None:
        self.path = log_path(root)
        self.position = offset
        self.fd: int | None = None

    def read(self) -> bytes:
        """The next bytes there are now; b"" at the end (so far) or while there is no log."""
        if self.fd is None:
            try:
                self.fd = os.open(self.path, os.O_RDONLY | _OPEN_FLAGS)
            except FileNotFoundError:
                return b""  # the task has not written anything yet
        data = os.pread(self.fd, READ_CHUNK, self.position)
        self.position += len(data)
        return data

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
