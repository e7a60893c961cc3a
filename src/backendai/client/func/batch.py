"""``session.Batch``: batch tasks' logs and server-side sweeps (``common.batch_tasks``).

::

    with Session() as api:
        info = api.Batch.create_sweep(SweepRequest(image="python", code="print(1)"))
        for chunk in api.Batch.task_logs(info.case_list[0].session_id):
            sys.stdout.buffer.write(chunk)

A task log is streamed in chunks of at most :data:`LOG_CHUNK` bytes as they arrive, so a
log of any size is never held in memory at once. The models (and pydantic) are imported on
first use: every API session has this group, and most commands never use it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from backendai.client.exceptions import BackendClientError
from backendai.client.func.binding import FunctionGroup, M, api_function, api_generator
from backendai.client.request import Request

if TYPE_CHECKING:
    from backendai.common.batch_tasks import SweepInfo, SweepRequest, SweepSummary

__all__ = ["LOG_CHUNK", "Batch"]

LOG_CHUNK = 64 * 1024

_Model = TypeVar("_Model", bound="SweepSummary")


def _parse(model: type[_Model], data: Any, what: str) -> _Model:
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise BackendClientError(f"The server's {what} is not valid: {e}") from e


class Batch(FunctionGroup[M]):
    """Task logs of batch sessions, and sweeps (one request for N batch sessions)."""

    @api_generator
    async def task_logs(
        self, task_id: uuid.UUID | str, *, follow: bool = True
    ) -> AsyncIterator[bytes]:
        """The raw task log of a batch session (its ID is the task ID), chunk by chunk.

        With ``follow`` the stream goes on while the task runs and ends when it ended;
        without it, it ends after the log written so far.
        """
        from backendai.common.batch_tasks import SESSION_TASK_LOGS

        params = {"taskId": str(task_id), "follow": "1" if follow else "0"}
        request = Request(self.session, "GET", SESSION_TASK_LOGS, params=params)
        async with request.stream() as raw:
            try:
                async for chunk in raw.content.iter_chunked(LOG_CHUNK):
                    yield chunk
            except (aiohttp.ClientError, TimeoutError) as e:
                raise BackendClientError(f"Reading the task log of {task_id} failed: {e}") from e

    @api_function
    async def create_sweep(self, request: SweepRequest) -> SweepInfo:
        """Submit a sweep; the server expands its ranges into cases and queues them."""
        from backendai.common.batch_tasks import SESSION_SWEEPS, SweepInfo

        body = request.model_dump(mode="json", exclude_none=True)
        resp = await Request(self.session, "POST", SESSION_SWEEPS, json=body).fetch()
        return _parse(SweepInfo, resp.json(), "answer to the sweep request")

    @api_function
    async def list_sweeps(self) -> list[SweepSummary]:
        """Your sweeps, as the server lists them."""
        from backendai.common.batch_tasks import SESSION_SWEEPS, SweepSummary

        data = (await Request(self.session, "GET", SESSION_SWEEPS).fetch()).json()
        items = data.get("sweeps") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise BackendClientError(f"The server's sweep list is not valid: {data!r}")
        return [_parse(SweepSummary, item, "sweep list") for item in items]

    @api_function
    async def sweep_info(self, sweep_id: uuid.UUID | str) -> SweepInfo:
        """One sweep with each case's session, status, result and exit code."""
        from backendai.common.batch_tasks import SESSION_SWEEP, SweepInfo

        path = SESSION_SWEEP.format(sweep_id=sweep_id)
        resp = await Request(self.session, "GET", path).fetch()
        return _parse(SweepInfo, resp.json(), "sweep information")

    @api_function
    async def cancel_sweep(self, sweep_id: uuid.UUID | str) -> SweepInfo:
        """Cancel the cases not started and terminate the running ones."""
        from backendai.common.batch_tasks import SESSION_SWEEP, SweepInfo

        path = SESSION_SWEEP.format(sweep_id=sweep_id)
        resp = await Request(self.session, "DELETE", path).fetch()
        return _parse(SweepInfo, resp.json(), "answer to the cancel request")
