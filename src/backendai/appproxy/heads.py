"""Request heads on a route's port: who may pass, and what an app gets to see.

Pure functions over one parsed head, so that the access rules read in one place and are tested
without sockets. The rules (``common/app_protocol``):

- a private route passes a request that carries its cookie ``app_cookie_name(port)``, or
  answers ``?app_token=TOKEN`` with a redirect that sets that cookie (the token leaves the
  address bar and the history at once);
- a private route refuses a request whose ``Origin`` is another site: cookies are scoped by
  host, not port, so a page of another app on this host would otherwise ride on the cookie
  (cross-site WebSocket hijacking of a terminal);
- every app, public ones too, never sees a token: every ``APP_COOKIE_PREFIX`` cookie and every
  ``app_token`` parameter is removed before a head is forwarded, and so is the web UI's login
  cookie (``hidden_cookies``): browsers send a host's cookies to all its ports.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote_to_bytes

from backendai.common.app_protocol import APP_COOKIE_PREFIX, APP_TOKEN_QUERY, app_cookie_name

_PREFIX = APP_COOKIE_PREFIX.encode()
_TOKEN_PARAM = APP_TOKEN_QUERY.encode()

REASONS = {
    302: b"Found",
    400: b"Bad Request",
    403: b"Forbidden",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    502: b"Bad Gateway",
}


@dataclass
class RequestHead:
    method: bytes
    url: bytes
    version: str
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def values(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def chunked(self) -> bool:
        encodings = b",".join(self.values(b"transfer-encoding")).lower()
        return encodings.rstrip().endswith(b"chunked")


@dataclass(frozen=True)
class Verdict:
    action: Literal["forward", "redirect", "forbid"]
    message: str = ""
    location: bytes = b""


@dataclass(frozen=True)
class RouteAccess:
    """What the checks need of a route."""

    port: int
    public: bool
    token: str
    origins: frozenset[str]  # this route's own origins, e.g. http://127.0.0.1:10200

    @property
    def cookie_name(self) -> bytes:
        return app_cookie_name(self.port).encode()


def _split_query(url: bytes) -> tuple[bytes, list[bytes], list[bytes]]:
    """(path, kept parameters, app_token values): the token parameter never goes upstream."""
    path, _, query = url.partition(b"?")
    kept: list[bytes] = []
    tokens: list[bytes] = []
    for param in query.split(b"&") if query else []:
        name, _, value = param.partition(b"=")
        if unquote_to_bytes(name.replace(b"+", b" ")) == _TOKEN_PARAM:
            tokens.append(unquote_to_bytes(value.replace(b"+", b" ")))
        elif param:
            kept.append(param)
    return path, kept, tokens


def stripped_url(url: bytes) -> bytes:
    path, kept, _ = _split_query(url)
    return (path or b"/") + (b"?" + b"&".join(kept) if kept else b"")


def _cookies(head: RequestHead) -> list[tuple[bytes, bytes]]:
    pairs = []
    for header in head.values(b"cookie"):
        for piece in header.split(b";"):
            name, _, value = piece.strip().partition(b"=")
            if name:
                pairs.append((name.strip(), value.strip().strip(b'"')))
    return pairs


def check(head: RequestHead, route: RouteAccess) -> Verdict:
    if route.public:
        return Verdict("forward")
    origins = head.values(b"origin")
    # The origin a browser names when a page of this very route calls it, under whatever
    # host name the user typed (Host is set by the browser, not by the page).
    allowed = route.origins | {f"{s}://{h.decode('latin-1')}" for h in head.values(b"host")
                               for s in ("http", "https")}  # fmt: skip
    if origins and any(o.decode("latin-1") not in allowed for o in origins):
        return Verdict("forbid", "This app refuses requests made by pages of other sites (Origin).")
    expected = route.token.encode()
    _, _, tokens = _split_query(head.url)
    if tokens:
        if expected and all(hmac.compare_digest(t, expected) for t in tokens):
            return Verdict("redirect", location=stripped_url(head.url))
        return Verdict("forbid", "The app token in this link is not valid (any more).")
    name = route.cookie_name
    given = [v for n, v in _cookies(head) if n == name]
    if expected and given and all(hmac.compare_digest(v, expected) for v in given):
        return Verdict("forward")
    return Verdict(
        "forbid", "This app is private: open it with the link that its owner's client printed."
    )


def forward_head(head: RequestHead, hidden: frozenset[bytes] = frozenset()) -> bytes:
    """The head as the app gets it: no app cookies, none of the platform's ``hidden`` ones
    (the web UI's login), no app_token, one body framing."""
    chunked = head.chunked
    lines = [b"%s %s HTTP/%s" % (head.method, stripped_url(head.url), head.version.encode())]
    for name, value in head.headers:
        lower = name.lower()
        if lower == b"cookie":
            kept = [
                piece.strip()
                for piece in value.split(b";")
                if piece.strip()
                and not piece.strip().startswith(_PREFIX)
                and piece.split(b"=", 1)[0].strip() not in hidden
            ]
            if not kept:
                continue
            value = b"; ".join(kept)
        elif lower == b"content-length" and chunked:
            continue  # the body is re-chunked: a length beside it could split requests
        lines.append(name + b": " + value)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def local_response(
    status: int, body: str | bytes = "", headers: list[tuple[str, str]] | None = None
) -> bytes:
    """A whole response the proxy answers itself; it always ends the connection."""
    payload = body.encode() if isinstance(body, str) else body
    lines = [b"HTTP/1.1 %d %s" % (status, REASONS.get(status, b"Error"))]
    all_headers = [
        *(headers or []),
        ("Content-Length", str(len(payload))),
        ("Cache-Control", "no-store"),
        ("Connection", "close"),
    ]
    if payload and not any(k.lower() == "content-type" for k, _ in all_headers):
        all_headers.append(("Content-Type", "text/plain; charset=utf-8"))
    lines += [f"{k}: {v}".encode("latin-1") for k, v in all_headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


def redirect_response(location: bytes, route: RouteAccess) -> bytes:
    cookie = f"{route.cookie_name.decode()}={route.token}; HttpOnly; SameSite=Lax; Path=/"
    return local_response(
        302, headers=[("Location", location.decode("latin-1")), ("Set-Cookie", cookie)]
    )
