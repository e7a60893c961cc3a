"""Reading the files of ``POST /session/{name}/upload`` from its multipart body (API_CONTRACT
§2.7): one part named ``src`` per file, at most 20 files, each under 1 MiB.

The body comes straight from the client, so anything in it may be malformed: a header line cut
by a raw newline in a file name, a missing boundary, a body that ends early. aiohttp reports
those as ``ValueError``, ``KeyError``, its HTTP parsing errors or a failed ``assert``; each is
the client's mistake and becomes a 400 that says so.
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from backendai.common.errors import InvalidRequest
from backendai.manager.services.kernel_access import (
    MAX_UPLOAD_FILE_SIZE,
    MAX_UPLOAD_FILES,
    check_upload_count,
    check_upload_file,
)

_CHUNK = 64 * 1024
# Parts that are not files (other field names) are skipped, but not without end.
MAX_PARTS = 2 * MAX_UPLOAD_FILES
HOW = (
    "Send the files as multipart/form-data, one part per file named src with a filename "
    '(Content-Disposition: form-data; name="src"; filename="dir/file.py").'
)
_MALFORMED = (ValueError, KeyError, AssertionError, HttpProcessingError)


async def read_uploads(request: web.Request) -> list[tuple[str, bytes]]:
    """The uploaded files as (path relative to /home/work, content)."""
    if not request.content_type.startswith("multipart/"):
        raise InvalidRequest(f"Not a multipart body ({request.content_type}). {HOW}")
    files: list[tuple[str, bytes]] = []
    parts = 0
    try:
        async for part in await request.multipart():
            parts += 1
            if parts > MAX_PARTS:
                raise InvalidRequest(f"Too many parts in the upload (at most {MAX_PARTS}). {HOW}")
            if not isinstance(part, BodyPartReader) or part.name != "src":
                continue
            check_upload_count(len(files) + 1)
            name, data = _filename(part), bytearray()
            while chunk := await part.read_chunk(_CHUNK):
                data += chunk
                if len(data) >= MAX_UPLOAD_FILE_SIZE:
                    check_upload_file(name, len(data))
            files.append((name, bytes(data)))
    except _MALFORMED as e:
        raise InvalidRequest(f"The multipart body is malformed ({_reason(e)}). {HOW}") from e
    return files


def _filename(part: BodyPartReader) -> str:
    """The part's file name. aiohttp decodes ``filename*`` (sent by Backend.AI's client); a
    plain ``filename`` from newer aiohttp clients arrives percent-encoded."""
    name = part.filename or ""
    if "filename*" not in part.headers.get(hdrs.CONTENT_DISPOSITION, ""):
        name = unquote(name)
    return name


def _reason(error: Exception) -> str:
    if isinstance(error, HttpProcessingError):
        reason = error.message.strip() or "a bad part header"
    else:
        reason = str(error) or type(error).__name__
    return reason if len(reason) <= 200 else reason[:200] + "..."
