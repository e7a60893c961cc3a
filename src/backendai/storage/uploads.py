"""Uploads: the manager's ticket, then tus 1.0 ``PATCH``/``HEAD``/``OPTIONS`` from the client.

The bytes go to ``<volume>/.uploads/<upload id>`` and are renamed onto the target only when
the last one arrived, so the target never shows a partial file. The offset of an upload is
the temp file's length: a client whose connection broke asks ``HEAD`` and goes on from there.
The body is streamed in bounded chunks (memory does not grow with the body), each written in
the pool while the next one is received.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from email.utils import formatdate

from aiohttp import web
from aiohttp.client_exceptions import ClientConnectionError
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from backendai.common.errors import Conflict, InvalidRequest, NotFound, VFolderQuotaExceeded
from backendai.common.problems import problem_response
from backendai.common.storage_protocol import ROUTE_UPLOAD, TransferTicket, UploadRequest
from backendai.storage.context import CONTEXT, StorageContext
from backendai.storage.tokens import Grant, expiry

TUS_VERSION = "1.0.0"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
WRITE_CHUNK = 8 * 1024 * 1024  # bytes gathered before one write: large writes are fast writes
MAX_IOV = 512  # chunks in one pwritev (the kernel takes at most 1024)
# With fsync on, the written data is flushed to disk every so often while the rest arrives, so
# the fsync that ends the upload has little left to write (instead of the whole file at once).
FLUSH_EVERY = 64 * 1024 * 1024
# How much of a body aiohttp reads ahead per request: its default (64 KiB) makes it pause and
# resume the socket every 64 KiB, which costs more than the bytes themselves.
READ_BUFSIZE = 4 * 1024 * 1024


async def issue_ticket(
    ctx: StorageContext, request: web.Request, req: UploadRequest
) -> TransferTicket:
    volume = ctx.volume(req.volume)
    # Refused before any byte: the whole declared length must fit.
    await ctx.usage.check(volume, req.vfid, req.quota_bytes, req.size, fresh=True)
    upload_id = uuid.uuid4().hex
    await ctx.run(volume.prepare_upload, req.vfid, req.path, upload_id, req.size)
    if req.size == 0:
        ctx.upload_ended(upload_id, "done")
    grant = Grant(
        op="upload",
        volume=req.volume,
        vfid=req.vfid,
        path=req.path,
        size=req.size,
        upload_id=upload_id,
        quota=req.quota_bytes,
        exp=expiry(ctx.settings.upload_expiry),
    )
    return TransferTicket(token=ctx.signer.sign(grant), url=ctx.public_url(request, ROUTE_UPLOAD))


def _tus_headers(grant: Grant, offset: int) -> dict[str, str]:
    return {
        "Tus-Resumable": TUS_VERSION,
        "Upload-Offset": str(offset),
        "Upload-Length": str(grant.size),
        "Upload-Expires": formatdate(grant.exp, usegmt=True),
        "Cache-Control": "no-store",
    }


async def _offset(ctx: StorageContext, grant: Grant) -> int:
    offset = await ctx.run(ctx.volume(grant.volume).upload_offset, grant.upload_id)
    if offset is not None:
        return offset
    if ctx.ended_uploads.get(grant.upload_id) == "done":
        return grant.size
    raise NotFound("The upload is finished, failed or expired; request a new upload.")


async def head(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    grant = ctx.signer.verify(request.query.get("token"), "upload")
    return web.Response(status=200, headers=_tus_headers(grant, await _offset(ctx, grant)))


async def options(request: web.Request) -> web.Response:
    return web.Response(
        status=204,
        headers={"Tus-Resumable": TUS_VERSION, "Tus-Version": TUS_VERSION,
                 "Tus-Extension": "expiration"},
    )  # fmt: skip


def _pwrite_flush(fd: int, chunks: list[bytes], pos: int, flush: bool) -> None:
    _pwrite_all(fd, chunks, pos)
    if flush:
        os.fdatasync(fd)


def _pwrite_all(fd: int, chunks: list[bytes], pos: int) -> None:
    """Write the received chunks as they are (one ``pwritev``, no joining copy)."""
    total = sum(len(c) for c in chunks)
    written = os.pwritev(fd, chunks, pos)
    if written < total:  # a short write (a full disk, a signal): finish it plainly
        rest = memoryview(b"".join(chunks))[written:]
        pos += written
        while rest:
            n = os.pwrite(fd, rest, pos)
            rest = rest[n:]
            pos += n


class _TooLarge(Exception):
    pass


async def patch(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    grant = ctx.signer.verify(request.query.get("token"), "upload")
    ctx.volume(grant.volume)  # an unknown volume: 404 before anything else
    if request.content_type != OFFSET_CONTENT_TYPE:
        return problem_response(415, "unsupported-media-type",
                                f"A PATCH body must be {OFFSET_CONTENT_TYPE}.")  # fmt: skip
    try:
        offset = int(request.headers["Upload-Offset"])
        if offset < 0:
            raise ValueError
    except (KeyError, ValueError):
        raise InvalidRequest("Upload-Offset must be a non-negative integer.") from None
    # A client that goes away must not cancel us halfway through a write (a server run with
    # handler_cancellation, as aiohttp's TestServer is): what arrived is kept, whole.
    work = asyncio.ensure_future(_patch(ctx, request, grant, offset))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise


async def _patch(
    ctx: StorageContext, request: web.Request, grant: Grant, offset: int
) -> web.StreamResponse:
    uid = grant.upload_id
    if uid in ctx.busy_uploads:
        raise Conflict("Another PATCH of this upload is in progress.")
    ctx.busy_uploads.add(uid)
    try:
        current = await _offset(ctx, grant)
        if offset != current:
            response = problem_response(
                409, "upload-offset-mismatch", "Upload-Offset does not match.",
                f"The upload is at offset {current}, not {offset}; resume from there.",
            )  # fmt: skip
            response.headers.update(_tus_headers(grant, current))
            return response
        declared = request.content_length
        if current == grant.size and not declared:
            return web.Response(status=204, headers=_tus_headers(grant, current))
        if declared is not None and offset + declared > grant.size:
            return _too_large(grant, offset)
        new_offset = await _receive(ctx, request, grant, offset)
    finally:
        ctx.busy_uploads.discard(uid)
    if new_offset is None:
        return _too_large(grant, offset)
    return web.Response(status=204, headers=_tus_headers(grant, new_offset))


def _too_large(grant: Grant, offset: int) -> web.Response:
    response = problem_response(
        413, "request-too-large", "The request body is too large.",
        f"The upload was declared as {grant.size} bytes; this PATCH goes beyond that.",
    )  # fmt: skip
    response.headers.update(_tus_headers(grant, offset))
    return response


async def _receive(
    ctx: StorageContext, request: web.Request, grant: Grant, offset: int
) -> int | None:
    """Stream the body into the temp file from ``offset``; the new offset, or None when the
    body went beyond the declared size (the PATCH then counts for nothing)."""
    volume = ctx.volume(grant.volume)
    fd = await ctx.run(volume.open_upload, grant.upload_id)
    buf: list[bytes] = []
    buffered = 0
    written = offset  # where the next write lands
    writing: asyncio.Future[None] | None = None
    keep_buffer = True
    try:
        await _check_quota(ctx, grant)
        while True:
            try:
                chunk = await request.content.readany()
            except (ClientConnectionError, RequestPayloadError, HttpProcessingError,
                    ConnectionResetError, TimeoutError):  # fmt: skip
                break  # the client is gone: keep what arrived, it resumes from HEAD's offset
            if not chunk:
                break
            if written + buffered + len(chunk) > grant.size:
                keep_buffer = False
                raise _TooLarge
            buf.append(chunk)
            buffered += len(chunk)
            if buffered >= WRITE_CHUNK or len(buf) >= MAX_IOV:
                if writing is not None:
                    await writing
                await _check_quota(ctx, grant)
                flush = (
                    volume.fsync and (written + buffered) // FLUSH_EVERY > written // FLUSH_EVERY
                )
                writing = asyncio.ensure_future(ctx.run(_pwrite_flush, fd, buf, written, flush))
                written += buffered
                buf, buffered = [], 0
    except _TooLarge:
        if writing is not None:
            await writing
        await ctx.run(os.ftruncate, fd, offset)
        return None
    except VFolderQuotaExceeded:
        keep_buffer = False
        if writing is not None:
            with contextlib.suppress(Exception):
                await writing
        await ctx.run(volume.discard_upload, grant.upload_id)
        ctx.upload_ended(grant.upload_id, "failed")
        raise
    finally:
        if writing is not None and not writing.done():
            # Still finish the write in flight so the offset a HEAD reports is whole.
            await asyncio.shield(writing)
        if keep_buffer and buf:
            await ctx.run(_pwrite_all, fd, buf, written)
            written += buffered
        os.close(fd)
    if written == grant.size:
        await ctx.run(volume.finish_upload, grant.vfid, grant.path, grant.upload_id)
        ctx.upload_ended(grant.upload_id, "done")
    return written


async def _check_quota(ctx: StorageContext, grant: Grant) -> None:
    """The folder's usage (cached, at most ~2 s old) plus this whole upload must still fit:
    the temp file is not inside the folder, so it is not counted in that usage."""
    volume = ctx.volume(grant.volume)
    try:
        await ctx.usage.check(volume, grant.vfid, grant.quota, grant.size, fresh=False)
    except VFolderQuotaExceeded as e:
        raise VFolderQuotaExceeded(
            f"{e.msg} The upload of {grant.path!r} is cancelled and its data dropped."
        ) from e
