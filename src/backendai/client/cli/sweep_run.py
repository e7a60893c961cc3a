"""``run --type batch``: the cases go to the server as one sweep, and this client follows it.

The sweep lives on the server (``common.batch_tasks``): once submitted it needs no client, so
Ctrl-C (or losing the connection) stops only the following. One case: its task log is
streamed to stdout and the command exits with the task's exit code. Several cases: a line
per case as it ends, each case's task log saved to ``<log dir>/<session name>.log``, and
exit 1 if any case did not succeed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import click

from backendai.client.exceptions import BackendClientError, BackendError
from backendai.common.batch_tasks import SweepCase, SweepInfo, SweepRequest

from .connection import async_cli_session
from .execution import exit_status
from .pretty import print_done, print_error, print_fail, print_info, print_warn
from .sweep import progress_line
from .task_logs import copy_task_log

if TYPE_CHECKING:
    from backendai.client.config import APIConfig
    from backendai.client.session import AsyncSession

#: Seconds between two looks at a followed sweep.
POLL_INTERVAL = 1.0
_ENDED = ("TERMINATED", "CANCELLED", "ERROR")
_DECIDED = ("SUCCESS", "FAILURE")
#: Seconds between two looks at the one case being followed, once its log ended.
END_POLL_INTERVAL = 0.2
_SAFE_NAME = re.compile(r"[\w][\w.-]*")


def with_defaults(request: SweepRequest, config: APIConfig) -> SweepRequest:
    """The domain and group of the configuration where not given, and the folders of
    ``BACKEND_VFOLDER_MOUNTS`` mounted in every case, as ``run`` does for its sessions."""
    mounts = request.config.get("mounts")
    given = [str(m) for m in mounts] if isinstance(mounts, list) else []
    cfg = {**request.config, "mounts": list(dict.fromkeys([*given, *config.vfolder_mounts]))}
    return request.model_copy(
        update={
            "domain": request.domain or config.domain,
            "group": request.group or config.group,
            "config": cfg,
        }
    )


async def run_sweep(
    request: SweepRequest, *, enqueue_only: bool, quiet: bool, log_dir: Path
) -> int:
    """Submit the sweep and (unless ``enqueue_only``) follow it; the exit status."""
    try:
        async with async_cli_session() as api:
            info = await api.Batch.create_sweep(with_defaults(request, api.config))
            if enqueue_only:
                click.echo(str(info.id))
            if not quiet:
                print_info(f"Running {info.cases} cases as a server-side sweep {info.id} ...")
            if enqueue_only:
                if not quiet:
                    print_info(f'Check its progress with "backend.ai sweep info {info.id}".')
                return 0
            return await _follow_until_interrupted(api, info, quiet=quiet, log_dir=log_dir)
    except BackendError as e:
        print_error(e)
        return 1


async def _follow_until_interrupted(
    api: AsyncSession, info: SweepInfo, *, quiet: bool, log_dir: Path
) -> int:
    """Follow the sweep; the first Ctrl-C stops following (130) and says how to look later."""
    if len(info.case_list) == 1:
        follow = _follow_one(api, info, info.case_list[0], quiet=quiet)
    else:
        follow = _follow_many(api, info, quiet=quiet, log_dir=log_dir)
    task = asyncio.ensure_future(follow)
    loop = asyncio.get_running_loop()
    # Where signal handlers cannot be set, Ctrl-C stays a KeyboardInterrupt (aborting).
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the command itself is being cancelled, not just the following
        _tell_how_to_check(info)
        return 130
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


def _tell_how_to_check(info: SweepInfo) -> None:
    lines = [
        "Stopped following. The sweep goes on on the server; check it later with",
        f"  backend.ai sweep info {info.id}",
    ]
    if len(info.case_list) == 1:
        lines.append(f"  backend.ai task-logs {info.case_list[0].session_id}")
    else:
        lines.append("  backend.ai task-logs <session ID of a case, as sweep info shows it>")
    print_warn("\n".join(lines))


def _ended(case: SweepCase, sweep: SweepInfo) -> bool:
    return case.status in _ENDED or sweep.finished


def _case_status(case: SweepCase) -> int:
    """The exit status a case gives the command: its exit code, 1 if it failed without one."""
    if case.result == "SUCCESS":
        return 0
    return exit_status(case.exit_code) or 1


def _report(case: SweepCase, quiet: bool) -> None:
    if quiet:
        return
    label = f"[{case.index}] {case.session_name}"
    if case.result == "SUCCESS":
        print_done(f"{label} SUCCESS")
        return
    # Neither a success nor a failure: cancelled, or terminated before its task ended.
    failed = case.result == "FAILURE" or case.status == "ERROR"
    outcome = "FAILURE" if failed else "CANCELLED"
    code = f" (exit code {case.exit_code})" if case.exit_code is not None else ""
    print_fail(f"{label} {outcome}{code}")


async def _wait_for_end(api: AsyncSession, sweep_id: object, index: int) -> SweepCase:
    while True:
        sweep = await api.Batch.sweep_info(str(sweep_id))
        case = next((c for c in sweep.case_list if c.index == index), None)
        if case is None:
            raise BackendClientError(f"The sweep {sweep_id} has no case {index} any more.")
        # Its log was streamed already, and its result is set as the task ends, before the
        # session's containers are gone: no need to wait for TERMINATED to know how it ended.
        if _ended(case, sweep) or case.result in _DECIDED:
            return case
        await asyncio.sleep(END_POLL_INTERVAL)  # its log ended: the result is moments away


async def _follow_one(api: AsyncSession, info: SweepInfo, case: SweepCase, *, quiet: bool) -> int:
    out = sys.stdout.buffer
    try:
        await copy_task_log(api, case.session_id, out, follow=True)
    except BackendError as e:  # the result still tells how it ended
        print_error(e)
    ended = await _wait_for_end(api, info.id, case.index)
    _report(ended, quiet)
    return _case_status(ended)


def _log_path(log_dir: Path, case: SweepCase) -> Path:
    # The name comes from the server: never let it point outside the log directory.
    name = case.session_name
    safe = _SAFE_NAME.fullmatch(name) is not None and name not in (".", "..")
    return log_dir / (f"{name}.log" if safe else f"case-{case.index}.log")


async def _save_log(api: AsyncSession, case: SweepCase, log_dir: Path) -> None:
    path = _log_path(log_dir, case)
    out: BinaryIO = await asyncio.to_thread(path.open, "wb")
    try:
        await copy_task_log(api, case.session_id, out, follow=False)
    except BackendError as e:
        print_warn(f"[{case.index}] The task log of {case.session_name} is not available: {e}")
    finally:
        await asyncio.to_thread(out.close)


async def _follow_many(api: AsyncSession, info: SweepInfo, *, quiet: bool, log_dir: Path) -> int:
    await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
    if not quiet:
        print_info(f"Check out the task logs stored in {log_dir} directory.")
    reported: set[int] = set()
    sweep = info
    while True:
        for case in sweep.case_list:
            if case.index not in reported and _ended(case, sweep):
                reported.add(case.index)
                _report(case, quiet)
                await _save_log(api, case, log_dir)
        if sweep.finished:
            break
        await asyncio.sleep(POLL_INTERVAL)
        sweep = await api.Batch.sweep_info(str(info.id))
    if not quiet:
        print_info(progress_line(sweep))
    if any(case.result != "SUCCESS" for case in sweep.case_list):
        print_fail("There were failed cases!")
        return 1
    return 0
