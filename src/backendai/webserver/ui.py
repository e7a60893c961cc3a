"""The web UI: one HTML shell at ``/`` and its static scripts and styles under ``/static/``.

The pages are plain ES modules (``static/js``) that call the API through ``/func/...`` with the
login cookie; nothing is built and nothing is loaded from outside the platform. Every answer
of the UI carries a Content-Security-Policy that allows only this origin's scripts, styles and
connections (and every other answer ``nosniff``), so a name or a log line shown on a page can
never run as code or reach elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from backendai.common.problems import Handler

STATIC_DIR = Path(__file__).with_name("static")
INDEX = STATIC_DIR / "index.html"

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _is_ui(path: str) -> bool:
    return path == "/" or path.startswith("/static/")


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if _is_ui(request.path) and not response.prepared:
        response.headers.update(SECURITY_HEADERS)
        # Scripts change with every release and are small: revalidated, never stale.
        response.headers.setdefault("Cache-Control", "no-cache")
    return response


async def nosniff(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer, streamed ones too (forwarded API answers, relayed downloads): no browser
    reads one as a page or a script whatever its content."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(INDEX, headers={"Content-Type": "text/html; charset=utf-8"})


def setup(app: web.Application) -> None:
    app.middlewares.append(security_headers)
    app.on_response_prepare.append(nosniff)
    app.router.add_get("/", index)
    # aiohttp's static route refuses paths that leave the folder and never lists it.
    app.router.add_static("/static/", STATIC_DIR, show_index=False, follow_symlinks=False)
