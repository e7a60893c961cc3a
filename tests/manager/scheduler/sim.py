"""Builders of snapshots for the pure scheduling tests (no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from backendai.common.slots import ResourceSlot
from backendai.manager.scheduler.snapshot import AgentState, PendingSession

NOW = datetime(2026, 1, 1, tzinfo=UTC)
IMG = "backendai/python:3.11-debian12"


def pending(n: int, group: str | None = "default", key: str = "AK", **kw: Any) -> PendingSession:
    """Session ``n`` (created ``n`` seconds after NOW minus an hour unless ``age`` is given)."""
    slots = kw.pop("slots", {"cpu": kw.pop("cpu", "1")})
    age = kw.pop("age", None)
    created = NOW - timedelta(seconds=age) if age is not None else NOW + timedelta(seconds=n)
    return PendingSession(
        id=uuid.UUID(int=n), name=f"s{n}", access_key=key, image=IMG,
        requested=ResourceSlot.from_json(slots), scaling_group=group, created_at=created, **kw,
    )  # fmt: skip


def agent(name: str, group: str = "default", used: dict[str, str] | None = None,
          **capacity: str) -> AgentState:  # fmt: skip
    cap = {k.replace("_", "."): v for k, v in (capacity or {"cpu": "4"}).items()}
    return AgentState(
        id=name, scaling_group=group, capacity=ResourceSlot.from_json(cap),
        occupied=ResourceSlot.from_json(used or {}), images=frozenset({IMG}),
    )  # fmt: skip


def uid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)
