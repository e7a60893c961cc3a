"""``backend.ai task-logs``: a batch session's task log, streamed as it is written."""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import TYPE_CHECKING, BinaryIO

import click

from backendai.client.exceptions import BackendError

from .connection import async_cli_session
from .execution import run_until_done
from .pretty import print_error

if TYPE_CHECKING:
    from backendai.client.session import AsyncSession


def _write(out: BinaryIO, chunk: bytes) -> None:
    out.write(chunk)
    out.flush()


async def copy_task_log(
    api: AsyncSession, task_id: uuid.UUID, out: BinaryIO, *, follow: bool
) -> None:
    """Write the task log to ``out`` chunk by chunk, as the server sends it.

    Writes happen in a worker thread: a slow reader of a pipe, or a slow disk, must not
    stall the event loop (which also polls sweeps and answers Ctrl-C).
    """
    async for chunk in api.Batch.task_logs(task_id, follow=follow):
        await asyncio.to_thread(_write, out, chunk)


@click.command(name="task-logs")
@click.argument("task_id", metavar="TASKID", type=click.UUID)
@click.option(
    "--no-follow",
    is_flag=True,
    help="Print the log written so far and return, instead of following a running task.",
)
def task_logs(task_id: uuid.UUID, no_follow: bool) -> None:
    """Shows the output logs of a batch task.

    The log (stdout and stderr as the task wrote them) is printed as it comes, until the
    task ends; it is kept after the session ended.

    \b
    TASKID: the UUID of a batch session (its task ID, as "ps" and "sweep info" show it).
    """
    sys.exit(run_until_done(lambda: _print_log(task_id, follow=not no_follow)))


async def _print_log(task_id: uuid.UUID, *, follow: bool) -> int:
    out = sys.stdout.buffer
    try:
        async with async_cli_session() as api:
            await copy_task_log(api, task_id, out, follow=follow)
    except BackendError as e:
        print_error(e)
        return 1
    return 0
