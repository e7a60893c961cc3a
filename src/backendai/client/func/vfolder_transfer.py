"""Moving file contents between this machine and a storage volume, with a manager ticket.

* upload: the manager's ``request-upload`` creates the tus resource and answers
  ``{token, url}``; the client sends tus 1.0 ``PATCH url?token=`` chunks with
  ``Upload-Offset`` and reads the new offset from each ``204`` answer. The ticket of an
  unfinished upload is kept in the state directory (``vfolder-uploads/``), keyed by endpoint,
  folder, path, size and modification time; a rerun asks ``HEAD`` for the offset and goes
  on from there. A finished upload, or a ticket the storage no longer knows, is dropped.
* download: ``GET url?token=`` streamed into ``FILE.part``, renamed to ``FILE`` when whole.
  A rerun with a ``.part`` sends ``Range: bytes=N-`` with ``If-Range`` (the ``ETag`` the
  first answer had, kept in ``vfolder-downloads/``); a ``200`` answer restarts the file.

These requests are unsigned (the token is the authorization) and go through a session of
their own, never the manager's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import aiohttp
from yarl import URL

from backendai.client import local_state
from backendai.client.exceptions import BackendAPIError, BackendClientError
from backendai.client.func.session_files import resolve_uploads

if TYPE_CHECKING:
    from backendai.client.session import AsyncSession

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ProgressCallback",
    "TicketStore",
    "Transfer",
    "download_files",
    "upload_files",
]

DEFAULT_CHUNK_SIZE = 16 * 2**20
READ_CHUNK = 256 * 2**10  # what a download reads at a time
TUS_VERSION = "1.0.0"
MAX_CONFLICTS = 3  # 409 answers in a row before an upload gives up
TICKET_TTL = 7 * 86400  # seconds a kept ticket is worth trying
#: ``(path in the folder, bytes done, total bytes)``, called as a transfer advances.
ProgressCallback = Callable[[str, int, int], None]
# Answers that say a ticket is gone for good (expired, finished, unknown).
_STALE = (401, 403, 404, 410)


@dataclass
class Transfer:
    """What the transfer functions need from the folder they work on."""

    session: AsyncSession
    folder: str
    state_dir: Path | None
    request_upload: Callable[[str, int], Awaitable[dict[str, Any]]]
    request_download: Callable[[str], Awaitable[dict[str, Any]]]

    def tickets(self, kind: str) -> TicketStore:
        return TicketStore((self.state_dir or local_state.state_dir()) / kind)

    def http(self) -> aiohttp.ClientSession:
        config = self.session.config
        connector = aiohttp.TCPConnector(ssl=not config.skip_sslcert_validation)
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=config.connection_timeout or None,
            sock_read=config.read_timeout or None,
        )
        return aiohttp.ClientSession(connector=connector, timeout=timeout)

    def key(self, *parts: object) -> list[object]:
        return [self.session.current_endpoint, self.folder, *parts]


class TicketStore:
    """Small JSON records in a directory, one per key (written with mode 0600)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: Sequence[object]) -> Path:
        digest = hashlib.sha256(json.dumps(list(key), default=str).encode()).hexdigest()
        return self.directory / f"{digest}.json"

    def get(self, key: Sequence[object]) -> dict[str, Any] | None:
        try:
            doc = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def prune(self, max_age: float = TICKET_TTL) -> None:
        """Forget records older than ``max_age`` seconds (files changed since, given up)."""
        limit = time.time() - max_age
        try:
            paths = list(self.directory.glob("*.json"))
        except OSError:
            return
        for path in paths:
            try:
                if path.stat().st_mtime < limit:
                    path.unlink()
            except OSError:
                continue

    def put(self, key: Sequence[object], record: dict[str, Any]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(record | {"saved_at": time.time()}, f)
        tmp.replace(path)

    def drop(self, key: Sequence[object]) -> None:
        self._path(key).unlink(missing_ok=True)


def _ticket_url(ticket: dict[str, Any]) -> URL:
    try:
        return URL(str(ticket["url"])).with_query({"token": str(ticket["token"])})
    except (KeyError, ValueError) as e:
        raise BackendClientError(f"The transfer ticket is not usable: {ticket!r}") from e


async def _refuse(resp: aiohttp.ClientResponse, what: str) -> BackendAPIError:
    text = await resp.text(errors="replace")
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = {"title": f"The storage refused the {what}.", "content": text}
    return BackendAPIError(resp.status, resp.reason or "", data)


# -- upload ----------------------------------------------------------------------------


async def upload_files(
    transfer: Transfer,
    files: Sequence[str | Path],
    *,
    basedir: str | Path | None,
    dest: str,
    chunk_size: int,
    progress: ProgressCallback | None,
) -> list[str]:
    if chunk_size <= 0:
        raise BackendClientError("The chunk size must be positive.")
    resolved = resolve_uploads(files, basedir)
    store = transfer.tickets("vfolder-uploads")
    store.prune()
    done: list[str] = []
    async with transfer.http() as http:
        for local, relative in resolved:
            target = f"{dest.strip('/')}/{relative}" if dest.strip("/") else relative
            await _upload_one(transfer, http, store, local, target, chunk_size, progress)
            done.append(target)
    return done


async def _upload_one(
    transfer: Transfer,
    http: aiohttp.ClientSession,
    store: TicketStore,
    local: Path,
    target: str,
    chunk_size: int,
    progress: ProgressCallback | None,
) -> None:
    size, mtime_ns = _size_and_mtime(local)
    key = transfer.key(target, size, mtime_ns)
    offset = 0
    ticket = store.get(key)
    if ticket is not None:
        resumed = await _head_offset(http, _ticket_url(ticket))
        if resumed is None:
            store.drop(key)
            ticket = None
        else:
            offset = resumed
    if ticket is None:
        ticket = await transfer.request_upload(target, size)
        if size > 0:
            store.put(key, {"url": ticket.get("url"), "token": ticket.get("token")})
    url = _ticket_url(ticket)
    if progress is not None:
        progress(target, offset, size)
    conflicts = 0
    with local.open("rb") as f:
        while offset < size:
            try:
                offset = await _patch(http, url, f, offset, min(chunk_size, size - offset))
            except BackendAPIError as e:
                if e.status in _STALE:
                    store.drop(key)
                elif e.status == 409 and conflicts < MAX_CONFLICTS:
                    # Our offset is off (or a PATCH is in flight): ask where the storage is.
                    conflicts += 1
                    known = await _head_offset(http, url)
                    if known is not None:
                        offset = known
                        continue
                raise
            conflicts = 0
            if progress is not None:
                progress(target, min(offset, size), size)
    store.drop(key)


def _size_and_mtime(local: Path) -> tuple[int, int]:
    stat = local.stat()
    return stat.st_size, stat.st_mtime_ns


async def _head_offset(http: aiohttp.ClientSession, url: URL) -> int | None:
    """The offset the storage has for an upload; None when it no longer knows it."""
    try:
        async with http.head(url, headers={"Tus-Resumable": TUS_VERSION}) as resp:
            if resp.status in _STALE:
                return None
            if resp.status // 100 != 2:
                raise await _refuse(resp, "resumption of the upload")
            value = resp.headers.get("Upload-Offset")
    except aiohttp.ClientError as e:
        raise BackendClientError(f"Cannot reach the storage at {url.with_query(None)}: {e}") from e
    if value is None or not value.isdigit():
        return None
    return int(value)


SEND_PIECE = 2**20


async def _pieces(chunk: bytes) -> AsyncIterator[memoryview]:
    """A chunk handed to the socket a piece at a time, each awaited: one 16 MiB write would sit
    in asyncio's send buffer, which (before Python 3.12) is shifted down after every partial
    send, copying the rest of the chunk each time."""
    view = memoryview(chunk)
    for start in range(0, len(view), SEND_PIECE):
        yield view[start : start + SEND_PIECE]


async def _patch(
    http: aiohttp.ClientSession, url: URL, f: IO[bytes], offset: int, length: int
) -> int:
    def read() -> bytes:
        f.seek(offset)
        return f.read(length)

    chunk = await asyncio.to_thread(read)
    if not chunk:
        raise BackendClientError("The file got shorter while it was being uploaded.")
    headers = {
        "Tus-Resumable": TUS_VERSION,
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": str(len(chunk)),
    }
    try:
        async with http.patch(url, data=_pieces(chunk), headers=headers) as resp:
            if resp.status != 204:
                raise await _refuse(resp, "upload")
            value = resp.headers.get("Upload-Offset", "")
    except aiohttp.ClientError as e:
        raise BackendClientError(
            f"The upload to {url.with_query(None)} broke off at byte {offset}: {e}"
        ) from e
    if not value.isdigit() or int(value) <= offset:
        raise BackendClientError(f"The storage answered a bad Upload-Offset: {value!r}.")
    return int(value)


# -- download --------------------------------------------------------------------------


def _local_target(base: Path, path: str) -> Path:
    target = (base / path.lstrip("/")).resolve()
    if target != base and base not in target.parents:
        raise BackendClientError(f'"{path}" would be written outside of "{base}".')
    return target


def _plan_downloads(
    files: Sequence[str], basedir: str | Path | None, dest: str | Path | None, overwrite: bool
) -> list[Path]:
    """The local path of each file; an existing one is refused before anything moves."""
    if dest is not None and len(files) != 1:
        raise BackendClientError("A destination file can be given for one file only.")
    base = Path.cwd() if basedir is None else Path(basedir).resolve()
    targets = [
        Path(dest).resolve() if dest is not None else _local_target(base, path) for path in files
    ]
    for target in targets:
        if target.is_dir():
            raise BackendClientError(f'"{target}" is a directory.')
        if target.exists() and not overwrite:
            raise BackendClientError(
                f'"{target}" already exists; remove it or ask to overwrite it.'
            )
    return targets


async def download_files(
    transfer: Transfer,
    files: Sequence[str],
    *,
    basedir: str | Path | None,
    dest: str | Path | None,
    overwrite: bool,
    chunk_size: int,
    progress: ProgressCallback | None,
) -> list[Path]:
    targets = _plan_downloads(files, basedir, dest, overwrite)
    store = transfer.tickets("vfolder-downloads")
    async with transfer.http() as http:
        for path, target in zip(files, targets, strict=True):
            ticket = await transfer.request_download(path)
            await _download_one(
                transfer, http, store, _ticket_url(ticket), path, target,
                chunk_size, progress, overwrite,
            )  # fmt: skip
    return targets


async def _download_one(
    transfer: Transfer,
    http: aiohttp.ClientSession,
    store: TicketStore,
    url: URL,
    path: str,
    target: Path,
    chunk_size: int,
    progress: ProgressCallback | None,
    overwrite: bool,
) -> None:
    part = target.with_name(target.name + ".part")
    key = transfer.key(path, str(target))
    offset = _part_size(part)
    saved = store.get(key)
    etag = str(saved["etag"]) if saved and saved.get("etag") else None
    headers: dict[str, str] = {}
    if offset > 0 and etag is not None:
        headers = {"Range": f"bytes={offset}-", "If-Range": etag}
    else:
        offset = 0
    try:
        async with http.get(url, headers=headers) as resp:
            if resp.status == 416 and headers:  # the .part is off: start over
                resp.release()
                store.drop(key)
                part.unlink(missing_ok=True)
                return await _download_one(
                    transfer, http, store, url, path, target,
                    chunk_size, progress, overwrite,
                )  # fmt: skip
            if resp.status == 200:
                offset = 0
            elif resp.status == 206:
                offset = _range_start(resp.headers.get("Content-Range", ""), offset)
            else:
                raise await _refuse(resp, "download")
            if resp.headers.get("ETag"):
                store.put(key, {"etag": resp.headers["ETag"]})
            length = resp.content_length
            total = offset + length if length is not None else 0
            written = await _write_body(resp, part, offset, chunk_size, path, total, progress)
    except aiohttp.ClientError as e:
        raise BackendClientError(
            f"The download of {path} broke off; run it again to resume: {e}"
        ) from e
    if length is not None and written != offset + length:
        raise BackendClientError(f"The download of {path} ended early; run it again to resume.")
    _finish(part, target, overwrite)
    store.drop(key)


def _part_size(part: Path) -> int:
    return part.stat().st_size if part.is_file() else 0


def _finish(part: Path, target: Path, overwrite: bool) -> None:
    if target.exists() and not overwrite:
        raise BackendClientError(f'"{target}" appeared meanwhile; the data is in "{part}".')
    part.replace(target)


def _open_part(part: Path, offset: int) -> IO[bytes]:
    """The ``.part`` file, cut at ``offset`` and positioned there."""
    part.parent.mkdir(parents=True, exist_ok=True)
    f = part.open("r+b" if offset and part.exists() else "wb")
    f.seek(offset)
    f.truncate()
    return f


def _range_start(content_range: str, expected: int) -> int:
    """The first byte of ``bytes START-END/TOTAL``; it must be where the .part ends."""
    try:
        start = int(content_range.split()[1].split("-")[0])
    except (IndexError, ValueError):
        raise BackendClientError(f"Bad Content-Range in a download: {content_range!r}") from None
    if start != expected:
        raise BackendClientError(f"The storage resumed at byte {start}, not {expected}.")
    return start


async def _write_body(
    resp: aiohttp.ClientResponse,
    part: Path,
    offset: int,
    chunk_size: int,
    path: str,
    total: int,
    progress: ProgressCallback | None,
) -> int:
    done = offset
    with _open_part(part, offset) as f:
        if progress is not None:
            progress(path, done, total)
        async for chunk in resp.content.iter_chunked(min(chunk_size, READ_CHUNK) or READ_CHUNK):
            await asyncio.to_thread(f.write, chunk)
            done += len(chunk)
            if progress is not None:
                progress(path, done, max(total, done))
    return done
