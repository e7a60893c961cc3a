"""Reaching into a session's container through its agent: files, logs, code execution (apps:
``services.apps``).

The manager only relays; the agent does the work. The limits Backend.AI's manager applies to
uploads (at most 20 files, each under 1 MiB) and downloads (at most 5 files) are checked here.
"""

from __future__ import annotations

import json
import posixpath
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import InvalidRequest, InvalidSessionState
from backendai.common.statuses import SessionStatus
from backendai.manager.agent_client import AgentClient, RelayedStream
from backendai.manager.db.models import Kernel, Session
from backendai.manager.services.sessions import main_kernel

MAX_UPLOAD_FILES = 20
MAX_UPLOAD_FILE_SIZE = 1024 * 1024  # each file must be smaller than this
MAX_DOWNLOAD_FILES = 5


@dataclass(frozen=True)
class KernelTarget:
    session_id: uuid.UUID
    kernel_id: uuid.UUID
    addr: str


def check_upload_count(count: int) -> None:
    if count > MAX_UPLOAD_FILES:
        raise InvalidRequest(
            f"Too many files: upload at most {MAX_UPLOAD_FILES} files at a time "
            "(put more in a vfolder, or archive them)."
        )


def check_upload_file(filename: str, size: int) -> None:
    if size >= MAX_UPLOAD_FILE_SIZE:
        raise InvalidRequest(
            f"The file {filename!r} is too large: each uploaded file must be smaller than "
            "1 MiB (use a vfolder for bigger files)."
        )
    norm = posixpath.normpath(filename)
    if not filename or filename.startswith("/") or norm == ".." or norm.startswith("../"):
        raise InvalidRequest(
            f"Invalid file name {filename!r}: use a path relative to /home/work, without '..'."
        )
    if any(ord(c) < 32 for c in filename):
        raise InvalidRequest(f"Invalid file name {filename!r}: no control characters.")


async def _target(db: AsyncSession, s: Session) -> KernelTarget:
    if s.status is not SessionStatus.RUNNING:
        raise InvalidSessionState(
            f"The session {s.name} is {s.status.value}; this needs a RUNNING session."
        )
    k = await main_kernel(db, s.id)
    if k is None or k.agent_addr is None:
        raise InvalidSessionState(f"The session {s.name} has no container yet.")
    return KernelTarget(s.id, k.id, k.agent_addr)


class KernelAccess:
    def __init__(self, db: async_sessionmaker[AsyncSession], agents: AgentClient) -> None:
        self._db = db
        self._agents = agents

    async def target(self, s: Session) -> KernelTarget:
        async with self._db() as db:
            return await _target(db, s)

    async def upload(self, s: Session, files: list[tuple[str, bytes]]) -> None:
        check_upload_count(len(files))
        for name, data in files:
            check_upload_file(name, len(data))
        if not files:
            raise InvalidRequest("No files to upload: send them as multipart fields named src.")
        t = await self.target(s)
        await self._agents.upload(t.addr, t.kernel_id, files)

    @asynccontextmanager
    async def download(self, s: Session, files: list[str]) -> AsyncIterator[RelayedStream]:
        """The agent's archives of ``files`` as they stream, to be relayed as they come."""
        if not files:
            raise InvalidRequest("Name at least one file to download.")
        if len(files) > MAX_DOWNLOAD_FILES:
            raise InvalidRequest(f"Download at most {MAX_DOWNLOAD_FILES} files at a time.")
        t = await self.target(s)
        async with self._agents.download(t.addr, t.kernel_id, files) as relayed:
            yield relayed

    async def list_files(self, s: Session, path: str) -> dict[str, Any]:
        t = await self.target(s)
        result = await self._agents.list_files(t.addr, t.kernel_id, path)
        entries = [e.model_dump(mode="json") for e in result.files]
        answer = {"files": json.dumps(entries), "errors": result.errors, "abspath": result.abspath}
        if result.note:  # a huge directory, listed in part (not an error: the CLI exits 0)
            answer["note"] = result.note
        return answer

    async def logs(self, s: Session) -> str:
        """The live container's log; for an ended session, the one kept at its end."""
        async with self._db() as db:
            k = await main_kernel(db, s.id)
            if k is None:
                return ""
            live = s.status is SessionStatus.RUNNING and k.agent_addr is not None
            addr, kernel_id, kept = k.agent_addr, k.id, k.container_log
        if live and addr is not None:
            return await self._agents.logs(addr, kernel_id)
        return kept or ""

    async def start_query(self, s: Session) -> KernelTarget:
        """The execution target; counts the query."""
        async with self._db() as db, db.begin():
            t = await _target(db, s)
            await db.execute(
                sa.update(Kernel)
                .where(Kernel.id == t.kernel_id)
                .values(num_queries=Kernel.num_queries + 1)
                .execution_options(synchronize_session=False)
            )
        return t
