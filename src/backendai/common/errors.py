"""The one error tree of the platform.

Every error a user can meet is a ``PlatformError`` with a stable ``code``. The code doubles
as the slug of the problem type on the wire (``https://api.backend.ai/probs/<code>``), which is
what Backend.AI's client keys its messages on. Errors know nothing about HTTP: the API edge
maps each class to a status code (``backendai.manager.api.problems``).

    PlatformError
     ├── InvalidRequest              invalid-api-params      bad input the caller can fix
     │    ├── InvalidAuthParameters  invalid-auth-params     malformed/stale auth headers
     │    ├── InvalidSessionState    invalid-session-state   not possible in the session's status
     │    ├── AlreadyExists          generic-bad-request
     │    │    ├── SessionAlreadyExists session-already-exists
     │    │    └── VFolderAlreadyExists vfolder-already-exists
     │    └── QuotaExceeded          quota-exceeded
     │         └── VFolderQuotaExceeded vfolder-quota-exceeded (413) a folder or volume is full
     ├── AuthenticationFailed        auth-failed             who you are could not be proven
     ├── TooManyRequests             too-many-requests       too much at once: try again later
     │    └── LoginLocked            login-locked            too many failed logins
     ├── PermissionDenied            insufficient-privilege  you may not do this
     ├── Conflict                    conflict (409)          not now: something else holds it
     │    └── VFolderInUse           vfolder-in-use          a live session mounts the folder
     ├── NotFound                    generic-not-found
     │    ├── SessionNotFound        session-not-found
     │    ├── TooManySessionsMatched too-many-sessions-matched
     │    ├── ImageNotFound          image-not-found
     │    ├── AppNotFound            app-not-found
     │    ├── GroupNotFound          group-not-found
     │    ├── DomainNotFound         domain-not-found
     │    ├── UserNotFound           user-not-found
     │    ├── KeypairNotFound        keypair-not-found
     │    └── NotAvailable           not-available           a feature this edition does not have
     ├── GraphQLError                graphql-error
     ├── AgentError                  agent-error             an agent failed
     │    ├── AgentUnreachable       agent-unreachable       no answer (down or restarting)
     │    └── AppStartFailed         app-start-failed        an app inside a session did not start
     ├── ServiceUnavailable          service-unavailable     busy for now (try again later)
     │    ├── ServerFrozen           server-frozen           frozen for maintenance: no new sessions
     │    └── AppProxyUnavailable    appproxy-unavailable    no app proxy can take the route now
     ├── ConfigurationError          configuration-error     settings that cannot start a process
     └── InternalError               internal-server-error   a bug or an unreachable dependency
"""

from __future__ import annotations

from typing import Any, ClassVar


class PlatformError(Exception):
    """Base of all domain errors; ``title`` is what a user reads, ``msg`` the detail."""

    code: ClassVar[str] = "generic-error"
    title: ClassVar[str] = "Something went wrong."

    def __init__(
        self, msg: str | None = None, *, data: Any = None, retry_after: int | None = None
    ) -> None:
        super().__init__(msg or self.title)
        self.msg = msg
        self.data = data
        # Seconds after which trying again may succeed (sent as Retry-After).
        self.retry_after = retry_after


class InvalidRequest(PlatformError):
    code = "invalid-api-params"
    title = "Missing or invalid API parameters."


class InvalidAuthParameters(InvalidRequest):
    code = "invalid-auth-params"
    title = "Missing or invalid authorization parameters."


class InvalidSessionState(InvalidRequest):
    code = "invalid-session-state"
    title = "The session cannot do this in its current status."


class AlreadyExists(InvalidRequest):
    code = "generic-bad-request"
    title = "The object already exists."


class SessionAlreadyExists(AlreadyExists):
    code = "session-already-exists"
    title = "The session already exists but you requested not to reuse existing one."


class QuotaExceeded(InvalidRequest):
    code = "quota-exceeded"
    title = "A quota or limit was exceeded."


class VFolderAlreadyExists(AlreadyExists):
    code = "vfolder-already-exists"
    title = "The virtual folder already exists with the same name."


class VFolderQuotaExceeded(QuotaExceeded):
    """A write that does not fit the folder's quota (or its volume's): HTTP 413."""

    code = "vfolder-quota-exceeded"
    title = "The virtual folder's quota would be exceeded."


class Conflict(PlatformError):
    """Refused for now because of the state of something else (HTTP 409)."""

    code = "conflict"
    title = "The request conflicts with the current state."


class VFolderInUse(Conflict):
    code = "vfolder-in-use"
    title = "The virtual folder is in use by a session."


class AuthenticationFailed(PlatformError):
    code = "auth-failed"
    title = "Authentication failed."


class TooManyRequests(PlatformError):
    """Refused to protect the service (a flood of logins); ``retry_after`` says when to retry."""

    code = "too-many-requests"
    title = "Too many requests."


class LoginLocked(TooManyRequests):
    code = "login-locked"
    title = "Too many failed login attempts."


class PermissionDenied(PlatformError):
    code = "insufficient-privilege"
    title = "Insufficient privilege."


class NotFound(PlatformError):
    code = "generic-not-found"
    title = "No such resource."


class SessionNotFound(NotFound):
    code = "session-not-found"
    title = "No such session."


class TooManySessionsMatched(NotFound):
    code = "too-many-sessions-matched"
    title = "Too many sessions matched."


class ImageNotFound(NotFound):
    code = "image-not-found"
    title = "Unknown image and/or tag."


class AppNotFound(NotFound):
    code = "app-not-found"
    title = "No such app in the session."


class TemplateNotFound(NotFound):
    code = "task-template-not-found"
    title = "No such session template."


class SweepNotFound(NotFound):
    code = "sweep-not-found"
    title = "No such sweep."


class GroupNotFound(NotFound):
    code = "group-not-found"
    title = "No such group (project)."


class DomainNotFound(NotFound):
    code = "domain-not-found"
    title = "No such domain."


class UserNotFound(NotFound):
    code = "user-not-found"
    title = "No such user."


class KeypairNotFound(NotFound):
    code = "keypair-not-found"
    title = "No such keypair."


class GraphQLError(PlatformError):
    code = "graphql-error"
    title = "GraphQL-generated error."


class AgentError(PlatformError):
    code = "agent-error"
    title = "An agent failed to carry out the request."


class AgentUnreachable(AgentError):
    """No answer at all (refused, reset, timed out): the agent may be restarting, so callers
    that can wait retry before they give up."""

    code = "agent-unreachable"
    title = "The agent could not be reached."


class AppStartFailed(AgentError):
    """A service inside a session (ttyd, sshd, jupyter, ...) exited or did not listen in time;
    ``msg`` carries the end of its log, so the user sees why."""

    code = "app-start-failed"
    title = "The app could not be started in the session."


class ServiceUnavailable(PlatformError):
    """A dependency is busy or down for now (a locked database): try again later."""

    code = "service-unavailable"
    title = "The service is busy; try again shortly."


class ServerFrozen(ServiceUnavailable):
    """The manager is frozen (``manager freeze``): it starts no new sessions until unfrozen."""

    code = "server-frozen"
    title = "The manager is frozen for maintenance."


class AppProxyUnavailable(ServiceUnavailable):
    """No configured app proxy answers, or none has a free port in its pool."""

    code = "appproxy-unavailable"
    title = "No app proxy can serve the app now."


class NotAvailable(NotFound):
    """A feature of Backend.AI's other editions that this platform does not offer (a 404, as
    Backend.AI's open edition answers for its routes)."""

    code = "not-available"
    title = "Not available in this edition."


class ConfigurationError(PlatformError):
    code = "configuration-error"
    title = "Invalid configuration."


class InternalError(PlatformError):
    code = "internal-server-error"
    title = "Internal server error."
