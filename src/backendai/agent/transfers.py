"""Uploads into and downloads out of a kernel's /home/work, over the agent's HTTP API.

Every blocking step goes through the agent's file work pool (``file_work``), as one operation
with its own deadline: opening an upload's file and each chunk written; sizing a download and
each chunk of its archives. What stays open across steps is ``Held``, so it is closed only
after the last step's thread has returned.

A download answers ``multipart/mixed``, one part per requested file, each a tar archive made
as it is sent (``archive.TarStream``): memory stays at a chunk or so whatever the size. All
checks (a missing file, a FIFO, the size limit) come before the first byte; a failure after it
cuts the connection, so the client sees a broken answer, never a short archive that looks whole.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web

from backendai.agent.archive import TarStream
from backendai.agent.errors import DownloadTooLarge
from backendai.agent.file_work import Deadline, FileWork, Held
from backendai.agent.files import DownloadPlan, KernelFiles
from backendai.common.errors import InvalidRequest
from backendai.common.streaming import abort_response

log = logging.getLogger(__name__)

UPLOAD_CHUNK = 256 * 1024


@dataclass
class _OpenFile:
    fd: int | None = None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _writer(data: bytes) -> Callable[[_OpenFile, Deadline], None]:
    def write(into: _OpenFile, deadline: Deadline) -> None:
        assert into.fd is not None, "written before it was opened"
        view = memoryview(data)
        while view:
            deadline.check()
            view = view[os.write(into.fd, view) :]

    return write


async def receive_upload(
    request: web.Request, work: FileWork, kernel_id: uuid.UUID, files: KernelFiles
) -> int:
    """Write every ``src`` part of the multipart body; the number of files written."""
    if not request.content_type.startswith("multipart/"):
        raise InvalidRequest("Upload files as multipart/form-data parts named src.")
    reader = await request.multipart()
    count = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name != "src" or not part.filename:
            raise InvalidRequest("Every part must be a file named src, with a filename.")
        # aiohttp's FormData (the manager's relay) percent-encodes "/" in filenames without a
        # filename* to decode; the official client's names arrive decoded. Both end up equal.
        name = urllib.parse.unquote(part.filename)
        held = Held(work, kernel_id, _OpenFile(), _OpenFile.close)
        try:
            await held.run(f"Opening {name}", _opener(files, name))
            while chunk := await part.read_chunk(UPLOAD_CHUNK):
                await held.run(f"Writing {name}", _writer(chunk))
        finally:
            held.release()
        count += 1
    return count


def _opener(files: KernelFiles, name: str) -> Callable[[_OpenFile, Deadline], None]:
    def open_(into: _OpenFile, _: Deadline) -> None:
        into.fd = files.open_for_upload(name)

    return open_


@dataclass
class _Download:
    """A download's plan (its open parent directories) and the archives made so far."""

    plan: DownloadPlan = field(default_factory=DownloadPlan)
    streams: list[TarStream] = field(default_factory=list)

    def close(self) -> None:
        for stream in self.streams:
            stream.close()
        self.plan.close()


async def send_download(
    request: web.Request,
    work: FileWork,
    kernel_id: uuid.UUID,
    files: KernelFiles,
    paths: Sequence[str],
    limit: int,
) -> web.StreamResponse:
    held = Held(work, kernel_id, _Download(), _Download.close)
    try:
        await held.run(
            f"Sizing the download of {', '.join(paths)}",
            lambda download, d: files.plan_download(paths, d, limit, download.plan),
        )
        return await _stream(request, held, limit)
    finally:
        held.release()


def _reader(stream: TarStream) -> Callable[[_Download, Deadline], bytes]:
    return lambda _, deadline: stream.read(deadline)


async def _stream(request: web.Request, held: Held[_Download], limit: int) -> web.StreamResponse:
    boundary = uuid.uuid4().hex
    response = web.StreamResponse(headers={"Content-Type": f"multipart/mixed; boundary={boundary}"})
    await response.prepare(request)
    sent = 0
    try:
        for source in held.resource.plan.sources:
            stream = TarStream(source.parent_fd, source.name, source.arcname)
            held.resource.streams.append(stream)
            await response.write(
                f"--{boundary}\r\nContent-Type: application/x-tar\r\n\r\n".encode()
            )
            what = f"Reading {source.arcname} for a download"
            while chunk := await held.run(what, _reader(stream)):
                sent += len(chunk)
                if sent > limit:  # it grew since it was sized
                    raise DownloadTooLarge(
                        f"The download grew past this agent's limit of {limit:,} bytes while "
                        "it was being sent, and was stopped."
                    )
                await response.write(chunk)
            await response.write(b"\r\n")
        await response.write(f"--{boundary}--\r\n".encode())
        await response.write_eof()
    except ConnectionError:  # the manager went away: nobody is left to tell
        abort_response(request)
    except BaseException as e:
        # Its status is sent: all the manager (and the user) can see is the cut.
        log.warning("a download from %s was cut off after %d bytes: %s", request.path, sent, e)
        abort_response(request)
        raise
    return response
