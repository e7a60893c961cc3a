"""Apps inside sessions (ttyd, sshd, jupyter, ...): the wire contract between the manager, the
agent, the in-container runner and the app proxy, one pydantic model per payload.

How a byte gets from a user to an app
=====================================

No port of a session is published on any host: an app listens on 127.0.0.1 inside its
container, and the only way in is a connection that the container's runner opens there and
hands to the agent as a file descriptor (``SCM_RIGHTS`` over the runner's unix socket). So the
agent holds a socket inside the container's network namespace, with no route, firewall hole or
published port involved, and relays it to whoever asked through its tunnel WebSocket:

    backend.ai app ─WS─ manager /stream/session/{name}/tcpproxy ─WS─ agent tunnel ─fd─ app
    browser ─HTTP─ app proxy (a port per route) ─────────────────WS─ agent tunnel ─fd─ app

Agent routes (``AGENT_*``, all under the agent's API with the shared agent token header; the
tunnel also takes ``?ticket=`` instead, a ``TunnelTicket`` the manager signed for one kernel and
app, so that app proxies never hold the agent token):

- ``GET  AGENT_APPS``       -> ``list[AppInfo]``: the kernel's apps, with what the runner knows
  of each (allowed arguments and environment, whether it runs now).
- ``POST AGENT_APP_START``  ``AppStartRequest`` -> ``AppStarted``: starts the app unless it runs,
  and answers once it accepts connections. Unknown app: 404 ``app-not-found``. An app that
  exits or does not listen within its start timeout: 502 ``app-start-failed`` whose detail ends
  with its log. A ``--arg``/``-e`` the app does not allow: 400 naming it.
- ``POST AGENT_APP_STOP``   ``{}`` -> ``AppStopped``.
- ``GET  AGENT_APP_TUNNEL`` (WebSocket; query ``arguments`` and ``envs`` as JSON, like
  ``tcpproxy``): starts the app if needed (errors as for start, answered before the upgrade),
  then relays binary frames both ways to a fresh connection to the app's first port. The agent
  closes with 1000 once the app closed its end; a close or error on the WebSocket closes the
  app connection.

Runner ops (JSON lines on the runner's unix socket, after its ``hello``; the runner is plain
Python inside the container and cannot import this module, so it mirrors these shapes):

- ``{"op": "describe-services", "names": [...]}`` -> ``{"op": "services", "services":
  {name: {"allowed_arguments": ..., "allowed_envs": [...], "url_template": str|null,
  "running": bool}}}`` for each name that has a definition (intrinsic or image service-def).
- ``{"op": "start-service", "name": N, "protocol": P, "ports": [..], "arguments": {..},
  "envs": {..}}`` -> ``{"op": "service-started", "started": bool, "port": int}`` or
  ``{"op": "service-failed", "status": 400|404|502, "message": str}``.
- ``{"op": "stop-service", "name": N}`` -> ``{"op": "service-stopped", "stopped": bool}``.
- ``{"op": "connect", "port": P}`` -> ``{"op": "connected"}`` sent with ONE ``sendmsg`` that
  carries the connected TCP socket's descriptor as ``SCM_RIGHTS`` (then the runner closes its
  copy and the link), or ``{"op": "connect-failed", "message": str}``.

App proxy (``backendai-server appproxy``): serves each route on a port of its own pool, on
which it checks the route's token (``APP_TOKEN_QUERY`` once, then the HttpOnly cookie
``app_cookie_name(port)``), or nothing for a public route. The manager drives it on its control
API with ``APPPROXY_TOKEN_HEADER``:

- ``PUT    PROXY_ROUTE``  ``AppRouteSpec`` -> ``AppRoute`` (create or replace; the port is kept
  on replace). No free port: 503 ``appproxy-unavailable``.
- ``DELETE PROXY_ROUTE``  -> 204 (unknown route: 204 too; closes its live connections).
- ``GET    PROXY_ROUTES`` -> ``list[AppRoute]``;  ``GET PROXY_STATUS`` -> ``ProxyStatus``.

and it calls the manager (same header):

- ``GET  MANAGER_PROXY_ROUTES?proxy=ID`` -> ``list[AppRouteSpec]`` (with their ``port``): what it
  must serve, asked at start so that a restarted proxy serves its routes again.
- ``POST MANAGER_PROXY_ACTIVITY`` ``ProxyActivity`` -> 204: sessions whose apps carried traffic
  since the last report (at most every ``ACTIVITY_REPORT_INTERVAL``), for the idle timeout.

Users (keypair or webserver session) open a route on the manager:

- ``POST   SESSION_APP_OPEN`` ``AppOpenRequest`` -> ``AppOpened`` (the owner only; reopening an
  open app returns the same route, its public flag updated).
- ``DELETE SESSION_APP_OPEN`` -> 204: closes the app's route and stops the app.
- ``GET    SESSION_APP_ROUTES`` -> ``list[AppOpened]``: the session's open routes.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any, Literal

import jwt
from pydantic import BaseModel, Field

# --- agent ---------------------------------------------------------------------------------
AGENT_APPS = "/v1/kernels/{kernel_id}/apps"
AGENT_APP_START = "/v1/kernels/{kernel_id}/apps/{app}/start"
AGENT_APP_STOP = "/v1/kernels/{kernel_id}/apps/{app}/stop"
AGENT_APP_TUNNEL = "/v1/kernels/{kernel_id}/apps/{app}/tunnel"
TICKET_QUERY = "ticket"

AppProtocol = Literal["http", "tcp", "pty", "preopen"]
# What --arg values become on the wire: {"--opt": "v"}, a bare flag -> None, repeated -> list.
AppArguments = dict[str, str | list[str] | None]

# Bounds on what a user may pass to an app (checked by manager and agent alike).
MAX_APP_ARGUMENTS = 64
MAX_APP_ENVS = 64
MAX_APP_VALUE_LENGTH = 4096


class AppInfo(BaseModel):
    """One app of a session, as ``GET /stream/session/{name}/apps`` lists it (API_CONTRACT
    §3.1: ``name`` is required, the rest optional for the official client)."""

    name: str
    protocol: AppProtocol
    ports: list[int]
    url_template: str | None = None
    allowed_arguments: dict[str, Any] | list[str] | None = None
    allowed_envs: list[str] | None = None
    running: bool = False


class AppStartRequest(BaseModel):
    arguments: AppArguments = Field(default_factory=dict)
    envs: dict[str, str] = Field(default_factory=dict)


class AppStarted(BaseModel):
    name: str
    port: int = Field(description="The port inside the container that the app listens on.")
    started: bool = Field(description="True when this call started it; False: it was running.")


class AppStopped(BaseModel):
    name: str
    stopped: bool = Field(description="False when it was not running.")


# --- tunnel tickets (manager -> app proxy -> agent) ----------------------------------------
TICKET_TTL = 30 * 24 * 3600  # bound anyway by the kernel: a gone kernel has no tunnel


def _ticket_key(agent_token: str) -> bytes:
    # Derived, so that a ticket can never stand in for the agent token itself.
    return hashlib.sha256(b"backendai-app-tunnel:" + agent_token.encode()).digest()


def make_tunnel_ticket(
    agent_token: str, kernel_id: uuid.UUID, app: str, ttl: int = TICKET_TTL
) -> str:
    now = int(time.time())
    claims = {"k": str(kernel_id), "a": app, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, _ticket_key(agent_token), algorithm="HS256")


def tunnel_ticket_allows(agent_token: str, ticket: str, kernel_id: uuid.UUID, app: str) -> bool:
    """Whether ``ticket`` was signed for this kernel's ``app`` and has not expired."""
    try:
        claims = jwt.decode(ticket, _ticket_key(agent_token), algorithms=["HS256"])
    except jwt.PyJWTError:
        return False
    return claims.get("k") == str(kernel_id) and claims.get("a") == app


# --- app proxy -----------------------------------------------------------------------------
APPPROXY_TOKEN_HEADER = "X-BackendAI-AppProxy-Token"
APPPROXY_TOKEN_FILE = "appproxy-token"  # in the data dir, as storage-token
PROXY_ROUTES = "/v1/routes"
PROXY_ROUTE = "/v1/routes/{route_id}"
PROXY_STATUS = "/v1/status"
MANAGER_PROXY_ROUTES = "/internal/appproxy/routes"
MANAGER_PROXY_ACTIVITY = "/internal/appproxy/activity"
ACTIVITY_REPORT_INTERVAL = 5.0
APP_TOKEN_QUERY = "app_token"


def app_cookie_name(port: int) -> str:
    """Cookies are scoped by host, not port: each route's cookie has its own name, and the proxy
    strips every ``APP_COOKIE_PREFIX`` cookie before a request reaches any app."""
    return f"{APP_COOKIE_PREFIX}{port}"


APP_COOKIE_PREFIX = "backendai_app_"


class AppRouteSpec(BaseModel):
    """What a proxy needs to serve one app of one session."""

    route_id: uuid.UUID
    session_id: uuid.UUID
    kernel_id: uuid.UUID
    app: str
    protocol: AppProtocol
    agent_addr: str = Field(description="The agent's API base URL, e.g. http://127.0.0.1:6011.")
    ticket: str = Field(description="A tunnel ticket for this kernel and app.")
    arguments: AppArguments = Field(default_factory=dict)
    envs: dict[str, str] = Field(default_factory=dict)
    public: bool = False
    token: str = Field(default="", description="The route's secret; empty for public routes.")
    preferred_port: int | None = None
    port: int | None = Field(default=None, description="The port it had; kept when free.")


class AppRoute(BaseModel):
    route_id: uuid.UUID
    port: int
    url: str = Field(description="Where users reach it, without the token: http://HOST:PORT/")
    public: bool


class ProxyStatus(BaseModel):
    id: str
    ports: int = Field(description="The size of the port pool.")
    routes: int


class ProxyActivity(BaseModel):
    proxy: str
    session_ids: list[uuid.UUID]


# --- the manager's user-facing routes ------------------------------------------------------
SESSION_APP_OPEN = "/session/{name}/apps/{app}"
SESSION_APP_ROUTES = "/session/{name}/apps"


class AppOpenRequest(BaseModel):
    open_to_public: bool = False
    preferred_port: int | None = Field(default=None, ge=1, le=65535)
    arguments: AppArguments = Field(default_factory=dict)
    envs: dict[str, str] = Field(default_factory=dict)


class AppOpened(BaseModel):
    app: str
    route_id: uuid.UUID
    port: int
    public: bool
    url: str = Field(description="Opens the app in a browser; carries the token when private.")
    proxy: str = Field(description="The id of the app proxy serving it.")
