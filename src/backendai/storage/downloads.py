"""Downloads: the manager's ticket, then ``GET``/``HEAD /download`` with ``Range``.

Bytes come from the descriptor opened when the request arrived: a file replaced meanwhile
(an upload renamed onto it) still sends its old bytes whole. A file modified in place during
the transfer is caught by a re-stat before the last chunk, and the connection is aborted so
that the client sees a short transfer, never a whole-looking file made of two versions.
"""

from __future__ import annotations

import asyncio
import os
import re
import urllib.parse
from email.utils import formatdate, parsedate_to_datetime

from aiohttp import web

from backendai.common.problems import problem_response
from backendai.common.storage_protocol import ROUTE_DOWNLOAD, DownloadRequest, TransferTicket
from backendai.storage.context import CONTEXT, StorageContext
from backendai.storage.tokens import Grant, expiry

READ_CHUNK = 4 * 1024 * 1024
SENDFILE_SEGMENT = 64 * 1024 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


async def issue_ticket(
    ctx: StorageContext, request: web.Request, req: DownloadRequest
) -> TransferTicket:
    volume = ctx.volume(req.volume)
    # Refuse now what the GET would refuse (no such file, a directory, a FIFO, a symlink).
    fd, _ = await ctx.run(volume.open_download, req.vfid, req.path)
    os.close(fd)
    grant = Grant(
        op="download",
        volume=req.volume,
        vfid=req.vfid,
        path=req.path,
        size=0,
        upload_id="",
        quota=0,
        exp=expiry(ctx.settings.download_expiry),
    )
    return TransferTicket(token=ctx.signer.sign(grant), url=ctx.public_url(request, ROUTE_DOWNLOAD))


def etag_of(st: os.stat_result) -> str:
    return f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'


def _range(request: web.Request, st: os.stat_result, etag: str) -> tuple[int, int] | str | None:
    """The one byte range asked for (inclusive), None for the whole file, "unsatisfiable"."""
    header = request.headers.get("Range")
    if not header:
        return None
    if_range = request.headers.get("If-Range")
    if if_range:
        if if_range.startswith(('"', "W/")):
            if if_range != etag:
                return None  # the file changed since the client's first part: send it whole
        else:
            try:
                if int(st.st_mtime) > parsedate_to_datetime(if_range).timestamp():
                    return None
            except (TypeError, ValueError):
                return None
    m = _RANGE.fullmatch(header.strip())
    if m is None or (not m[1] and not m[2]):
        return None  # several ranges or another unit: the whole file is a valid answer
    size = st.st_size
    if not m[1]:
        start, end = max(0, size - int(m[2])), size - 1
    else:
        start = int(m[1])
        end = min(int(m[2]), size - 1) if m[2] else size - 1
    if start >= size or start > end:
        return "unsatisfiable"
    return start, end


def _changed(fd: int, before: os.stat_result, ctx_path: os.stat_result | None) -> bool:
    """Did the file's content change since ``before``? An unlinked (replaced) file gets a new
    ctime from the unlink alone, so its ctime counts only while the path still names it."""
    now = os.fstat(fd)
    if (now.st_size, now.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        return True
    still_named = ctx_path is not None and ctx_path.st_ino == now.st_ino and now.st_nlink > 0
    return still_named and now.st_ctime_ns != before.st_ctime_ns


def _disposition(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{urllib.parse.quote(name)}"


async def download(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    grant = ctx.signer.verify(request.query.get("token"), "download")
    volume = ctx.volume(grant.volume)
    fd, st = await ctx.run(volume.open_download, grant.vfid, grant.path)
    try:
        return await _send(ctx, request, grant, fd, st)
    finally:
        os.close(fd)


async def _send(
    ctx: StorageContext, request: web.Request, grant: Grant, fd: int, st: os.stat_result
) -> web.StreamResponse:
    etag = etag_of(st)
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": _disposition(grant.path),
        "ETag": etag,
        "Last-Modified": formatdate(st.st_mtime, usegmt=True),
        "Accept-Ranges": "bytes",
        "Cache-Control": "no-store",
    }
    wanted = _range(request, st, etag)
    if wanted == "unsatisfiable":
        refused = problem_response(416, "range-not-satisfiable", "Range not satisfiable.",
                                    f"The file has {st.st_size} bytes.")  # fmt: skip
        refused.headers["Content-Range"] = f"bytes */{st.st_size}"
        return refused
    status = 200
    start, end = 0, st.st_size - 1
    if isinstance(wanted, tuple):
        status = 206
        start, end = wanted
        headers["Content-Range"] = f"bytes {start}-{end}/{st.st_size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = end - start + 1  # never chunked: the official client needs it
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    volume = ctx.volume(grant.volume)
    # All but the last chunk go by sendfile (the kernel copies page cache to socket); the last
    # chunk is read, then the file is re-checked, and only then is it sent.
    tail = max(start, end + 1 - READ_CHUNK)
    sent = await _sendfile(request, fd, start, tail - start)
    pos, remaining = start + sent, end + 1 - (start + sent)
    reading = asyncio.ensure_future(ctx.run(os.pread, fd, min(READ_CHUNK, remaining), pos))
    try:
        while remaining > 0:
            data = await reading
            if not data:
                return _abort(request, response)  # the file shrank under us
            pos += len(data)
            remaining -= len(data)
            if remaining > 0:
                reading = asyncio.ensure_future(
                    ctx.run(os.pread, fd, min(READ_CHUNK, remaining), pos)
                )
            else:
                path_st = await ctx.run(volume.stat_path, grant.vfid, grant.path)
                if await ctx.run(_changed, fd, st, path_st):
                    return _abort(request, response)
            await response.write(data)
    finally:
        # The descriptor is closed after we return: no read may still be running on it.
        if not reading.done():
            await asyncio.wait([reading])
    await response.write_eof()
    return response


async def _sendfile(request: web.Request, fd: int, offset: int, count: int) -> int:
    """Send ``count`` bytes from ``offset`` with the kernel's sendfile, in segments; returns
    how many went (0 where sendfile is not available: TLS, or another transport)."""
    transport = request.transport
    if count <= 0 or transport is None:
        return 0
    loop = asyncio.get_running_loop()
    done = 0
    with open(fd, "rb", buffering=0, closefd=False) as f:  # noqa: ASYNC230 (an open fd: no I/O)
        while done < count:
            try:
                n = await loop.sendfile(
                    transport, f, offset + done, min(SENDFILE_SEGMENT, count - done), fallback=False
                )
            except (NotImplementedError, RuntimeError):
                break  # plain reads and writes do the rest
            if n == 0:
                break
            done += n
    return done


def _abort(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Cut the connection mid-body: the client sees fewer bytes than Content-Length said."""
    if request.transport is not None:
        request.transport.abort()
    return response
