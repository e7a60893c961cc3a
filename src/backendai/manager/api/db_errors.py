"""Database trouble at the API edge: a database that is locked, overloaded or unreachable for
now is a 503 with a Retry-After hint (the client may simply try again), never a generic 500."""

from __future__ import annotations

import logging

import sqlalchemy.exc as sa_exc
from aiohttp import web

from backendai.common.errors import ServiceUnavailable
from backendai.manager.api.auth import Handler

log = logging.getLogger(__name__)

RETRY_AFTER_S = 2
# Driver errors that pass: SQLite's lock (WAL has one writer) and PostgreSQL's lock, deadlock,
# serialization and overload errors (asyncpg's class names).
_TRANSIENT_MESSAGES = ("database is locked", "database table is locked")
_TRANSIENT_DRIVER_ERRORS = frozenset(
    {
        "LockNotAvailableError",
        "DeadlockDetectedError",
        "SerializationError",
        "QueryCanceledError",
        "TooManyConnectionsError",
        "CannotConnectNowError",
        "AdminShutdownError",
    }
)


def is_transient(error: sa_exc.SQLAlchemyError) -> bool:
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection free in time
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    cause = error.orig
    text = str(cause).lower()
    return any(m in text for m in _TRANSIENT_MESSAGES) or (
        type(cause).__name__ in _TRANSIENT_DRIVER_ERRORS
        or type(getattr(cause, "__cause__", None)).__name__ in _TRANSIENT_DRIVER_ERRORS
    )


@web.middleware
async def database_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except sa_exc.SQLAlchemyError as e:
        if not is_transient(e):
            raise
        log.warning("%s %s: the database is busy: %s", request.method, request.path, e.args[0])
        raise ServiceUnavailable(
            f"The database is busy ({type(e).__name__}); try again in {RETRY_AFTER_S} s.",
            retry_after=RETRY_AFTER_S,
        ) from e
