"""Refusing cross-site requests that would act with a logged-in user's cookie.

A page on another site can make the browser POST to us, or open a WebSocket to us, and the
browser may attach our login cookie: without a check that page could create a session and run
code in it. Browsers always say where such a request comes from in ``Origin``; it must be the
webserver itself (as the browser reached it) or an origin the settings allow. Requests without
``Origin`` are not from a browser page (the CLI, the official client, curl) and pass.
"""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from backendai.common.errors import PermissionDenied
from backendai.common.forwarding import TrustedProxies

# (scheme, host, port), ports made explicit: http://h and http://h:80 are one origin.
Origin = tuple[str, str, int]

# The webserver's routes that act for a logged-in user; the web UI's pages are added here.
GUARDED_PREFIXES = ("/func/", "/server/", "/storage/")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def parse_origin(value: str) -> Origin | None:
    """``scheme://host[:port]`` as a comparable triple; None for ``null`` or anything else."""
    try:
        url = URL(value.strip())
        port = url.port
    except (ValueError, TypeError):
        return None
    if url.scheme not in ("http", "https") or not url.host or port is None:
        return None
    if url.raw_path not in ("", "/") or url.raw_query_string or url.raw_fragment or url.raw_user:
        return None
    return url.scheme, url.host.lower().rstrip("."), port


def _header(request: web.BaseRequest, name: str) -> str | None:
    values = request.headers.getall(name, [])
    return ",".join(values) if values else None


def public_scheme(request: web.BaseRequest, proxies: TrustedProxies) -> str:
    """``https`` when the client's connection used TLS: ours, or a trusted proxy's."""
    forwarded = proxies.forwarded(request.remote, _header(request, "X-Forwarded-Proto"))
    return (forwarded or request.scheme).lower()


def own_origin(request: web.BaseRequest, proxies: TrustedProxies) -> Origin | None:
    """The webserver's origin as the browser reached it (None for an unreadable Host)."""
    host = proxies.forwarded(request.remote, _header(request, "X-Forwarded-Host")) or request.host
    return parse_origin(f"{public_scheme(request, proxies)}://{host}")


def needs_check(request: web.BaseRequest) -> bool:
    if request.path != "/func" and not request.path.startswith(GUARDED_PREFIXES):
        return False
    upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
    return request.method in STATE_CHANGING or upgrade


class OriginGuard:
    def __init__(self, proxies: TrustedProxies, allowed: list[str]) -> None:
        self.proxies = proxies
        self.allowed = frozenset(o for o in map(parse_origin, allowed) if o is not None)

    def check(self, request: web.BaseRequest) -> None:
        """Raise ``PermissionDenied`` for a browser request from a foreign page."""
        if not needs_check(request):
            return
        claimed = request.headers.get("Origin")
        if claimed is None:
            return
        origin = parse_origin(claimed)
        own = own_origin(request, self.proxies)
        if origin is not None and (origin == own or origin in self.allowed):
            return
        here = f"{own[0]}://{own[1]}:{own[2]}" if own else "this webserver"
        raise PermissionDenied(
            f"Cross-site request refused: a page from Origin {claimed!r} may not "
            f"{request.method} {request.path} on {here} with your login. Use the web UI of "
            "this webserver, or ask an admin to add that origin to webserver.allowed_origins."
        )
