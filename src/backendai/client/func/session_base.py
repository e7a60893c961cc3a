"""What every compute-session object has: which session it names, and how to name it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self
from uuid import UUID

from backendai.client.exceptions import BackendClientError
from backendai.client.func.binding import FunctionGroup, M, Runner

if TYPE_CHECKING:
    from backendai.client.session import AsyncSession

__all__ = ["SessionBase", "as_dict"]


class SessionBase(FunctionGroup[M]):
    """A function group that may be bound to one compute session (by name and/or UUID)."""

    def __init__(
        self,
        session: AsyncSession,
        runner: Runner | None = None,
        *,
        name: str | None = None,
        id: UUID | None = None,
        owner_access_key: str | None = None,
    ) -> None:
        super().__init__(session, runner)
        self.name = name
        self.id = id
        self.owner_access_key = owner_access_key
        # Filled in by get_or_create from the server's answer.
        self.created = False
        self.status: str | None = None
        self.service_ports: list[dict[str, Any]] = []
        # Why a session the create request answered for has ended (ERROR, CANCELLED, ...).
        self.status_info: str | None = None
        self.status_data: dict[str, Any] = {}
        # get_or_create(count=N > 1): the N sessions queued, this one first.
        self.batch: list[Self] = []
        self.domain: str | None = None
        self.group: str | None = None

    @property
    def ref(self) -> str:
        """How REST paths name this session: its name, else its UUID."""
        if self.name is not None:
            return self.name
        if self.id is not None:
            return str(self.id)
        raise BackendClientError("This ComputeSession object names no session.")

    @property
    def stream_ref(self) -> str:
        """How stream paths name this session: its UUID, else its name."""
        return str(self.id) if self.id is not None else self.ref

    def _owner_params(self) -> dict[str, str]:
        return {"owner_access_key": self.owner_access_key} if self.owner_access_key else {}


def as_dict(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BackendClientError(f"The server's answer is not a JSON object: {data!r}")
    return data
