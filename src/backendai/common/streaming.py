"""Ending a streamed HTTP answer that failed half-way, so that nobody takes it for complete."""

from __future__ import annotations

from aiohttp import web


def abort_response(request: web.BaseRequest) -> None:
    """Cut the connection under a response whose body was started.

    A chunked body then lacks its final chunk (a sized one its last bytes), which every HTTP
    client reports as an error. Ending the body normally instead would make, say, a download
    cut short by a failure look like a smaller, well-formed archive.
    """
    transport = request.transport
    if transport is not None:
        transport.abort()
