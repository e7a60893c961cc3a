"""What the launcher hands back to the layer above it: a session that failed to start, the
containers of one terminated meanwhile, and what a new session's home gets.

The launcher runs below the services (the import contract in ``pyproject.toml`` checks it), so
it names what it needs here and the services provide it (``services/launch_outcomes.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from backendai.common.agent_protocol import DotfileSpec
from backendai.manager.db.models import Session


@dataclass(frozen=True)
class KernelHandle:
    """Enough to reach a kernel's container after the transaction that found it closed."""

    kernel_id: uuid.UUID
    agent_id: str
    addr: str
    # The batch session whose task runs in this (main) kernel: its log is kept before the
    # container goes.
    task_of: uuid.UUID | None = None


class LaunchOutcomes(Protocol):
    async def dotfiles(self, db: AsyncSession, session: Session) -> list[DotfileSpec]:
        """The files a new session's home gets (user over group over domain)."""

    async def failed_to_start(
        self, session_id: uuid.UUID, user: uuid.UUID, agent_id: str, why: str
    ) -> None:
        """An agent refused a kernel: the error is recorded and the session fails."""

    async def clean_up(self, handles: Sequence[KernelHandle]) -> None:
        """Containers made for a session that ended while they were being made."""
