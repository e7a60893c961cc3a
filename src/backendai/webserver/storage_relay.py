"""``/storage/upload`` and ``/storage/download``: the storage's transfer routes, same-origin.

A folder transfer is a ticket from the manager (``request-upload``/``request-download``) and
then tus or ranged requests to the storage with that ticket's token. Browsers on the web UI
reach only the webserver, so it relays those two routes, and only to the storage it is
configured with (the URL the manager handed out is never followed: that would let a page make
the webserver fetch any address). Bodies stream through in both directions; nothing is held
beyond one chunk.
"""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web
from yarl import URL

from backendai.common.errors import NotFound, ServiceUnavailable
from backendai.common.streaming import abort_response
from backendai.webserver.context import context_of

PREFIX = "/storage"
ROUTES = {"/upload": ("PATCH", "HEAD", "OPTIONS"), "/download": ("GET", "HEAD")}
# What a tus or ranged transfer needs across, in each direction; nothing else passes.
REQUEST_HEADERS = frozenset(
    {
        "content-type", "content-length", "range", "if-range", "tus-resumable",
        "upload-offset", "upload-length", "upload-metadata",
    }
)  # fmt: skip
RESPONSE_HEADERS = frozenset(
    {
        "content-type", "content-length", "content-range", "content-disposition",
        "accept-ranges", "etag", "last-modified", "tus-resumable", "tus-version",
        "tus-extension", "tus-max-size", "upload-offset", "upload-length", "upload-expires",
        "cache-control",
    }
)  # fmt: skip
CHUNK = 256 * 1024

log = logging.getLogger(__name__)


async def relay(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    base = ctx.settings.storage_url
    if not base:
        raise NotFound("This webserver relays no storage: set webserver.storage_url.")
    route = request.path[len(PREFIX) :]
    target = URL(base.rstrip("/") + route).with_query(request.query)
    headers = {k: v for k, v in request.headers.items() if k.lower() in REQUEST_HEADERS}
    body = request.content.iter_chunked(CHUNK) if request.body_exists else None
    try:
        upstream = await ctx.http.request(
            request.method,
            target,
            data=body,
            headers=headers,
            auto_decompress=False,
            allow_redirects=False,
        )
    except aiohttp.ClientError as e:
        # The storage's address is the operator's business, not the browser's: logged only.
        log.warning("the storage at %s is unreachable: %s", base, e)
        raise ServiceUnavailable(
            "The storage does not answer now; try the transfer again shortly."
        ) from e
    async with upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in upstream.headers.items():
            if name.lower() in RESPONSE_HEADERS:
                response.headers[name] = value
        if upstream.headers.get("Content-Encoding"):
            response.headers["Content-Encoding"] = upstream.headers["Content-Encoding"]
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        try:
            async for chunk in upstream.content.iter_chunked(CHUNK):
                await response.write(chunk)
            await response.write_eof()
        except BaseException:
            abort_response(request)  # a cut download must not look whole
            raise
        return response


def setup(app: web.Application) -> None:
    for route, methods in ROUTES.items():
        for method in methods:
            app.router.add_route(method, PREFIX + route, relay)
