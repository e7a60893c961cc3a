"""File transfer with a compute session's working directory (``/home/work``).

* upload: ``POST /session/{name}/upload``, ``multipart/form-data`` with one part per file,
  all named ``src``; each part's filename is the path relative to the base directory
  (it may contain ``/``; the server creates the parent directories).
* download: ``GET /session/{name}/download`` with ``{"files": [...]}`` answers
  ``multipart/mixed``, one TAR archive per requested file, extracted into the destination.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
from aiohttp import hdrs
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

from backendai.client.exceptions import BackendClientError
from backendai.client.func.binding import M, api_function
from backendai.client.func.session_base import SessionBase, as_dict
from backendai.client.request import Request

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = [
    "FileTransfer",
    "ProgressPayload",
    "build_upload",
    "extract_download",
    "open_progress",
    "resolve_uploads",
]

CHUNK_SIZE = 64 * 1024


class ProgressPayload(Payload):
    """A file part of known size that advances a progress bar as it is sent."""

    def __init__(self, data: bytes, *, progress: tqdm[Any] | None, label: str) -> None:
        super().__init__(data, content_type="application/octet-stream")
        self._data = data
        self._size = len(data)
        self._progress = progress
        self._label = label

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self._data.decode(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        data = self._data if content_length is None else self._data[:content_length]
        if self._progress is not None:
            self._progress.set_postfix(file=self._label, refresh=False)
        for start in range(0, len(data), CHUNK_SIZE):
            chunk = data[start : start + CHUNK_SIZE]
            await writer.write(chunk)
            if self._progress is not None:
                self._progress.update(len(chunk))


def resolve_uploads(
    files: Sequence[str | os.PathLike[str]], basedir: str | os.PathLike[str] | None
) -> list[tuple[Path, str]]:
    """``(absolute path, name relative to the base directory)`` of each file.

    The base directory defaults to the current one; a file outside it is refused, since
    its place in the container would be undefined.
    """
    base = Path.cwd() if basedir is None else Path(basedir).resolve()
    resolved = []
    for file in files:
        path = Path(file).resolve()
        try:
            relative = path.relative_to(base)
        except ValueError:
            raise BackendClientError(
                f'File "{path}" is outside of the base directory "{base}".'
            ) from None
        if not path.is_file():
            raise BackendClientError(f'"{path}" is not a regular file.')
        resolved.append((path, relative.as_posix()))
    return resolved


async def build_upload(
    files: list[tuple[Path, str]], progress: tqdm[Any] | None
) -> aiohttp.MultipartWriter:
    """The multipart body of an upload; file contents are read off the event loop."""
    writer = aiohttp.MultipartWriter("form-data")
    for path, name in files:
        data = await asyncio.to_thread(path.read_bytes)
        payload = ProgressPayload(data, progress=progress, label=path.name)
        payload.headers[hdrs.CONTENT_DISPOSITION] = form_disposition("src", name)
        writer.append_payload(payload)
    return writer


# What stays unescaped in file names, as in the official client's (aiohttp 3.7) parts.
_FILENAME_SAFE = "[]!#$%&'()*+,/:;<=>?@^`{|}~"


def form_disposition(field_name: str, filename: str) -> str:
    """``form-data; name="src"; filename="dir/a.py"; filename*=utf-8''dir/a.py``.

    Built by hand because newer aiohttp percent-encodes the ``/`` of relative paths in
    ``filename`` (and drops ``filename*``), which servers would take literally.
    """
    quoted = quote(filename, _FILENAME_SAFE)
    return f'form-data; name="{field_name}"; filename="{quoted}"; filename*=utf-8\'\'{quoted}'


async def extract_download(
    resp: aiohttp.ClientResponse, dest: Path, progress: tqdm[Any] | None
) -> list[str]:
    """Extract every TAR part of a ``multipart/mixed`` answer into ``dest``; the names."""
    reader = aiohttp.MultipartReader.from_response(resp)
    names: list[str] = []
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, aiohttp.BodyPartReader):
            raise BackendClientError("The download answer has a nested multipart part.")
        _check_part_encoding(part)
        import tempfile

        fd, tmp_name = tempfile.mkstemp(suffix=".tar")
        try:
            with os.fdopen(fd, "wb") as tmp:
                while chunk := await part.read_chunk(CHUNK_SIZE):
                    await asyncio.to_thread(tmp.write, chunk)
                    if progress is not None:
                        progress.update(len(chunk))
            names.extend(await asyncio.to_thread(_extract, Path(tmp_name), dest))
        finally:
            os.unlink(tmp_name)
    return names


def _check_part_encoding(part: aiohttp.BodyPartReader) -> None:
    encoding = part.headers.get(hdrs.CONTENT_ENCODING, "identity").lower()
    transfer = part.headers.get(hdrs.CONTENT_TRANSFER_ENCODING, "binary").lower()
    if encoding != "identity" or transfer not in ("binary", "8bit", "7bit"):
        raise BackendClientError(
            f"Unsupported encoding of a downloaded part: {encoding}/{transfer}."
        )


def _extract(archive: Path, dest: Path) -> list[str]:
    import tarfile

    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            names = tar.getnames()
            # The "data" filter refuses absolute paths, links out of dest and device files:
            # the archive comes from inside a container the user may not fully trust.
            tar.extractall(path=dest, filter="data")
    except tarfile.TarError as e:
        raise BackendClientError(f"A downloaded file is not a valid archive: {e}") from e
    return names


def open_progress(
    desc: str, total: int | None, *, show: bool, file: IO[str] | None = None
) -> tqdm[Any]:
    """A byte-counting progress bar (drawn on stderr) that is a no-op unless ``show``."""
    from tqdm import tqdm

    return tqdm(desc=desc, unit="bytes", unit_scale=True, total=total, disable=not show, file=file)


class FileTransfer(SessionBase[M]):
    """The file functions of a compute session (mixed into ComputeSession)."""

    @api_function
    async def list_files(self, path: str | Path = ".") -> dict[str, Any]:
        """A container directory: ``{"files": "<JSON list>", "errors": "", "abspath": ...}``."""
        params = self._owner_params()
        rqst = Request(
            self.session,
            "GET",
            f"/session/{self.ref}/files",
            params=params,
            json={"path": str(path)},
        )
        return as_dict((await rqst.fetch()).json())

    @api_function
    async def upload(
        self,
        files: Sequence[str | Path],
        basedir: str | Path | None = None,
        show_progress: bool = False,
    ) -> None:
        """Copy local files into the session's ``/home/work``, keeping their relative paths.

        Paths are taken relative to ``basedir`` (default: the current directory).
        """
        resolved = resolve_uploads(files, basedir)
        total = sum(path.stat().st_size for path, _ in resolved)
        with open_progress("Uploading files", total, show=show_progress) as progress:
            body = await build_upload(resolved, progress if show_progress else None)
            rqst = Request(
                self.session,
                "POST",
                f"/session/{self.ref}/upload",
                params=self._owner_params(),
                multipart=body,
            )
            await rqst.fetch()

    @api_function
    async def download(
        self,
        files: Sequence[str | Path],
        dest: str | Path = ".",
        show_progress: bool = False,
    ) -> dict[str, Any]:
        """Copy files (relative to ``/home/work``) out of the session into ``dest``."""
        rqst = Request(
            self.session,
            "GET",
            f"/session/{self.ref}/download",
            params=self._owner_params(),
            json={"files": [str(f) for f in files]},
        )
        async with rqst.stream() as resp:
            total = resp.content_length
            with open_progress("Downloading files", total, show=show_progress) as bar:
                names = await extract_download(resp, Path(dest), bar if show_progress else None)
                if total is not None and bar.n < total:
                    # The total counts the multipart framing too; the data is all here.
                    bar.update(total - bar.n)
        return {"file_names": names}
