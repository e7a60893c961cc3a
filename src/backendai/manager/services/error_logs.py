"""The server error log (``server-logs``): every 5xx answer of the manager and every error an
agent reports, each owned by the user whose request it was (if any).

Who sees which entries is the authorization table's (``Resource.ERROR_LOG``): a user its own,
a domain admin its domain's, monitors and superadmins all. Entries are listed newest first,
paged as Backend.AI's client asks (``page_size``, ``page_no``); ``mark_read`` marks what was
listed as read, and a cleared entry is no longer listed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import NotFound
from backendai.manager import authz
from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import ErrorLog
from backendai.manager.services.auth import Principal

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100
_CUT = {"message": 4096, "traceback": 65536, "request_url": 512, "source": 128}


@dataclass(frozen=True, slots=True)
class ErrorReport:
    message: str
    source: str = "manager"  # or "agent:<id>"
    severity: str = "error"
    user: uuid.UUID | None = None
    request_url: str | None = None
    request_status: int | None = None
    traceback: str | None = None
    context_env: dict[str, Any] | None = None


def _cut(field: str, text: str | None) -> str | None:
    limit = _CUT[field]
    return text if text is None or len(text) <= limit else text[: limit - 3] + "..."


def _wire(row: ErrorLog) -> dict[str, Any]:
    return {
        "log_id": str(row.id),
        "created_at": row.created_at.timestamp(),
        "severity": row.severity,
        "source": row.source,
        "user": str(row.user) if row.user else None,
        "is_read": row.is_read,
        "is_cleared": row.is_cleared,
        "message": row.message,
        "context_lang": row.context_lang,
        "context_env": row.context_env,
        "request_url": row.request_url,
        "request_status": row.request_status,
        "traceback": row.traceback,
    }


async def record(db: async_sessionmaker[AsyncSession], report: ErrorReport) -> None:
    """Store one entry; a failure to store it is logged, never raised (the error being
    recorded is what the caller reports)."""
    try:
        async with db() as session, session.begin():
            session.add(ErrorLog(
                severity=report.severity, source=_cut("source", report.source) or "manager",
                user=report.user, message=_cut("message", report.message) or "",
                context_env=report.context_env or {},
                request_url=_cut("request_url", report.request_url),
                request_status=report.request_status,
                traceback=_cut("traceback", report.traceback),
            ))  # fmt: skip
    except Exception:
        log.exception("could not record an error in the error log: %s", report.message)


class ErrorLogService:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def record(self, report: ErrorReport) -> None:
        await record(self._db, report)

    async def list(
        self, principal: Principal, *, page_size: int, page_no: int, mark_read: bool
    ) -> dict[str, Any]:
        visible = sa.and_(
            authz.where(principal, Resource.ERROR_LOG, Action.LIST), ErrorLog.is_cleared.is_(False)
        )
        if mark_read:  # refuse up front a role that may never mark anything
            authz.require_any(principal, Resource.ERROR_LOG, Action.UPDATE)
        async with self._db() as db, db.begin():
            count = await db.scalar(sa.select(sa.func.count()).select_from(ErrorLog).where(visible))
            rows = list(await db.scalars(
                sa.select(ErrorLog).where(visible)
                .order_by(ErrorLog.created_at.desc(), ErrorLog.id)
                .limit(page_size).offset((page_no - 1) * page_size)
            ))  # fmt: skip
            logs = [_wire(r) for r in rows]
            if mark_read and rows:
                await db.execute(
                    sa.update(ErrorLog)
                    .where(ErrorLog.id.in_([r.id for r in rows]),
                           authz.where(principal, Resource.ERROR_LOG, Action.UPDATE))
                    .values(is_read=True)
                )  # fmt: skip
        return {"logs": logs, "count": int(count or 0)}

    async def clear(self, principal: Principal, log_id: uuid.UUID) -> None:
        """Mark one entry cleared (it is no longer listed)."""
        async with self._db() as db, db.begin():
            reach = authz.where(principal, Resource.ERROR_LOG, Action.UPDATE)
            row = await db.scalar(sa.select(ErrorLog).where(ErrorLog.id == log_id, reach))
            if row is None:
                raise authz.absent(
                    principal,
                    Resource.ERROR_LOG,
                    Action.UPDATE,
                    NotFound(f"No error log {log_id}."),
                )
            row.is_cleared = True
