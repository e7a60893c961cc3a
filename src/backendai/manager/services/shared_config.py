"""The platform's shared configuration: the keys Backend.AI keeps in etcd, ours in the database.

Keys are slash-separated paths (``config/docker/registry/example.com``). A prefix read or
delete covers the key itself and every key below it (``config/docker`` covers
``config/docker/...``, never ``config/dockerfile``); a prefix read answers a nested mapping,
as Backend.AI's does, with the key's own value (if it has one) under ``""``. Setting a mapping
writes one key per leaf, below the key.

The announcement and the manager's frozen state are keys too (:data:`ANNOUNCEMENT_KEY`,
:data:`STATUS_KEY`), so ``admin etcd get manager --prefix`` shows them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import InvalidRequest
from backendai.manager import authz
from backendai.manager.authz import Action, Resource
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import ConfigEntry
from backendai.manager.services.auth import Principal

ANNOUNCEMENT_KEY = "manager/announcement"
STATUS_KEY = "manager/status"
MAX_KEY = 512
MAX_VALUE = 1024 * 1024  # characters of one value
MAX_LEAVES = 1000  # keys one set may write


def normalize_key(key: str) -> str:
    """``/a//b/`` -> ``a/b``; refuses an empty key, ``.``/``..`` parts and overlong keys."""
    parts = [p for p in key.split("/") if p]
    if not parts:
        raise InvalidRequest("The configuration key is empty.")
    if any(p in (".", "..") for p in parts):
        raise InvalidRequest(f"The configuration key {key!r} may not contain '.' or '..' parts.")
    normalized = "/".join(parts)
    if len(normalized) > MAX_KEY:
        raise InvalidRequest(f"The configuration key is longer than {MAX_KEY} characters.")
    return normalized


def _text(value: Any) -> str:
    """A leaf as stored: strings as they are, other JSON values as JSON (``true``, ``12``)."""
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > MAX_VALUE:
        raise InvalidRequest(f"A configuration value is longer than {MAX_VALUE} characters.")
    return text


def flatten(key: str, value: Any) -> dict[str, str]:
    """The keys a set writes: one per leaf of a mapping, or the key itself."""
    leaves: dict[str, str] = {}
    stack: list[tuple[str, Any]] = [(key, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, Mapping) and item:
            for sub, subvalue in item.items():
                stack.append((normalize_key(f"{where}/{sub}"), subvalue))
        else:
            leaves[where] = _text(item if not isinstance(item, Mapping) else "")
        if len(leaves) > MAX_LEAVES:
            raise InvalidRequest(f"A configuration set may write at most {MAX_LEAVES} keys.")
    return leaves


def nest(prefix: str, rows: Mapping[str, str]) -> dict[str, Any]:
    """The rows at and below ``prefix`` as a nested mapping (the key's own value at ``""``)."""
    tree: dict[str, Any] = {}
    for key, value in sorted(rows.items()):
        node = tree
        parts = key[len(prefix) :].strip("/").split("/") if key != prefix else []
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {} if child is None else {"": child}
                node[part] = child
            node = child
        leaf = parts[-1] if parts else ""
        if isinstance(node.get(leaf), dict):
            node[leaf][""] = value
        else:
            node[leaf] = value
    return tree


def _under(key: str) -> sa.ColumnElement[bool]:
    # Keys never contain LIKE wildcards unescaped: escape them.
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.or_(ConfigEntry.key == key, ConfigEntry.key.like(f"{escaped}/%", escape="\\"))


async def read(db: AsyncSession, key: str) -> str | None:
    return await db.scalar(sa.select(ConfigEntry.value).where(ConfigEntry.key == key))


async def write(db: AsyncSession, values: Mapping[str, str]) -> None:
    """Insert or replace ``values``, in the caller's transaction."""
    now = utcnow()
    for key, value in values.items():
        entry = await db.get(ConfigEntry, key)
        if entry is None:
            db.add(ConfigEntry(key=key, value=value, modified_at=now))
        else:
            entry.value = value
            entry.modified_at = now


class SharedConfig:
    """``admin etcd get/set/delete``: what the authorization table lets a superadmin do."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def get(self, principal: Principal, key: str, prefix: bool) -> Any:
        authz.require_any(principal, Resource.CONFIG, Action.READ)
        key = normalize_key(key)
        async with self._db() as db:
            if not prefix:
                return await read(db, key)
            rows = await db.execute(
                sa.select(ConfigEntry.key, ConfigEntry.value).where(_under(key))
            )
            found = {k: v for k, v in rows}
        return nest(key, found)

    async def set(self, principal: Principal, key: str, value: Any) -> None:
        authz.require_any(principal, Resource.CONFIG, Action.UPDATE)
        values = flatten(normalize_key(key), value)
        async with self._db() as db, db.begin():
            await write(db, values)

    async def delete(self, principal: Principal, key: str, prefix: bool) -> int:
        """How many keys were deleted (0 is no error: etcd answers alike)."""
        authz.require_any(principal, Resource.CONFIG, Action.DELETE)
        key = normalize_key(key)
        where = _under(key) if prefix else ConfigEntry.key == key
        async with self._db() as db, db.begin():
            result = await db.execute(sa.delete(ConfigEntry).where(where))
        return int(getattr(result, "rowcount", 0) or 0)
