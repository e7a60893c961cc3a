"""``backend.ai run``: run code or uploaded files in a (new or reused) compute session.

Per case: ``POST /session`` (create or reuse), ``POST /session/{name}/upload`` when FILES
are given, the execution WebSocket (batch mode for files, query mode for ``-c``), and
``DELETE /session/{name}`` with ``--rm``. Parametric runs (``--env-range`` and friends)
run one such case per combination, up to ``--max-parallel`` at a time, each writing its
output to ``$XDG_CACHE_HOME/backend.ai/client-logs/<session>.{stdout,stderr}.log``.

With ``--type batch`` the cases are submitted instead as one server-side sweep of batch
sessions (``sweep_run``), which goes on without this client.

Exit status, as ``docker run`` gives it (Backend.AI's client exits 0 in most of these cases):
the program's exit code (``Execution finished. (exit code = N)``); with several cases, 1 if
any of them failed; 1 when a session cannot be created (the request was refused) or ended
(ERROR, CANCELLED, TIMEOUT, TERMINATED) instead of running the code, and when uploading or
executing fails; 0 for a session only queued (PENDING, SCHEDULED, e.g. ``--enqueue-only``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import traceback
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import click

from backendai.client.exceptions import BackendError
from backendai.client.session import AsyncSession
from backendai.common.sweep_ranges import RangeError, parse_range

from .connection import async_cli_session
from .execution import (
    AsyncComputeSession,
    CaseOutput,
    InterruptHandler,
    execute,
    exit_status,
    run_until_done,
)
from .formatting import format_stats
from .pretty import (
    format_error,
    print_done,
    print_error,
    print_fail,
    print_info,
    print_warn,
    report_unready_session,
)
from .ranges import Case, TemplateError, expand_cases
from .session_options import (
    env_option,
    extra_options,
    name_option,
    parse_mounts,
    parse_pairs,
    parse_ports,
    resource_options,
    scheduling_options,
)


def client_log_dir() -> Path:
    """``$XDG_CACHE_HOME/backend.ai/client-logs`` (default ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "backend.ai" / "client-logs"


# A session only queued (e.g. --enqueue-only) is not a failure; one that ended is.
_QUEUED = ("PENDING", "SCHEDULED")


class CaseFailed(Exception):
    """A case could not run or failed to run (already reported)."""


def _check_ranges(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    """Range expressions are kept as typed (a sweep sends them so), once checked here."""
    for value in values:
        try:
            parse_range(value)
        except RangeError as e:
            raise click.BadParameter(str(e), ctx, param) from None
    return values


@dataclass
class RunPlan:
    """What every case of one ``run`` shares."""

    image: str
    create_args: dict[str, Any]
    files: tuple[str, ...]
    basedir: str | None
    code: str | None
    clean: str
    rm: bool
    stats: bool
    quiet: bool
    is_multi: bool


@click.command()
@click.argument("image")
@click.argument("files", nargs=-1, type=click.Path())
@name_option
@scheduling_options(with_startup_command=False)
@click.option("-c", "--code", metavar="CODE", default=None, help="The code to run, as one string.")
@click.option("--clean", metavar="CMD", default=None, help="Shell command cleaning up /home/work.")
@click.option("--build", metavar="CMD", default=None, help="Shell command building the FILES.")
@click.option("--exec", "exec_", metavar="CMD", default=None, help="Shell command running them.")
@click.option(
    "--basedir",
    metavar="PATH",
    type=click.Path(),
    default=None,
    help="Upload FILES relative to this directory (default: the current one); "
    "all of them must be inside it.",
)
@env_option
@extra_options
@click.option("--rm", is_flag=True, help="Terminate the session when the code has run.")
@click.option(
    "-s", "--stats", is_flag=True, help="Show resource usage after termination (with --rm)."
)
@click.option(
    "-q", "--quiet", is_flag=True, help="Show only the program's output, no status lines."
)
@click.option("--env-range", metavar="RANGE_EXPR", multiple=True, callback=_check_ranges,
              help="Values of a variable used in -e values, e.g. X=case:1,2,3.")  # fmt: skip
@click.option("--build-range", metavar="RANGE_EXPR", multiple=True, callback=_check_ranges,
              help="Values of a variable used in --build.")  # fmt: skip
@click.option("--exec-range", metavar="RANGE_EXPR", multiple=True, callback=_check_ranges,
              help="Values of a variable used in --exec, e.g. N=range:1,10,2.")  # fmt: skip
@click.option(
    "--max-parallel",
    metavar="NUM",
    type=int,
    default=2,
    help="Run at most this many cases of a parametric run at once.",
)
@resource_options
def run(
    image: str,
    files: tuple[str, ...],
    name: str | None,
    type_: str,
    starts_at: str | None,
    enqueue_only: bool,
    max_wait: int,
    no_reuse: bool,
    code: str | None,
    clean: str | None,
    build: str | None,
    exec_: str | None,
    basedir: str | None,
    env: tuple[str, ...],
    bootstrap_script: IO[str] | None,
    tag: str | None,
    rm: bool,
    stats: bool,
    quiet: bool,
    env_range: tuple[str, ...],
    build_range: tuple[str, ...],
    exec_range: tuple[str, ...],
    max_parallel: int,
    mount: tuple[str, ...],
    scaling_group: str | None,
    resources: tuple[str, ...],
    cluster_size: int,
    cluster_mode: str,
    resource_opts: tuple[str, ...],
    domain: str | None,
    group: str | None,
    preopen: str | None,
) -> None:
    """Run code (-c) or files in a compute session, creating it or reusing it by name.

    \b
    With --type batch, the cases run as one server-side sweep of batch sessions, which
    goes on if this command is stopped (see "sweep info" and "task-logs").

    \b
    IMAGE: the session's image (name[:tag]), e.g. python:3.9-ubuntu20.04.
    FILES: code files to upload into /home/work and run (with --build/--exec,
           or the image's defaults, e.g. "python main.py"); not with --type batch.
    """
    prefix = name if name is not None else f"pysdk-{secrets.token_hex(5)}"
    if type_ == "batch":
        if files:
            print_fail(
                "FILES cannot be used with --type batch: the cases run on the server, "
                "without this client.\nPut the files in a virtual folder and mount it with "
                "-m FOLDER, then run them with --exec (e.g. --exec 'python FOLDER/main.py')."
            )
            sys.exit(1)
        if not code and not exec_:
            print_fail("A batch run needs the code to run: -c CODE, or --exec COMMAND.")
            sys.exit(1)
        if cluster_size != 1:
            print_fail("--cluster-size is not supported with --type batch.")
            sys.exit(1)
        # Imported here: an interactive run starts without pydantic (see test_cli_startup).
        from backendai.common.batch_tasks import SweepRequest

        from .sweep_run import run_sweep

        mounts, mount_map = parse_mounts(mount)
        request = SweepRequest(
            name=prefix, image=image, code=code, clean=clean, build=build, exec=exec_,
            environ=parse_pairs(env, "-e/--env"), env_range=list(env_range),
            build_range=list(build_range), exec_range=list(exec_range),
            config={
                "mounts": mounts, "mount_map": mount_map,
                "resources": parse_pairs(resources, "-r/--resources"),
                "resource_opts": parse_pairs(resource_opts, "--resource-opts"),
                "scalingGroup": scaling_group, "preopen_ports": parse_ports(preopen),
            },
            tag=tag, bootstrap_script=bootstrap_script.read() if bootstrap_script else None,
            starts_at=starts_at, domain=domain, group=group,
        )  # fmt: skip
        sys.exit(
            run_until_done(
                lambda: run_sweep(
                    request, enqueue_only=enqueue_only, quiet=quiet, log_dir=client_log_dir()
                )
            )
        )
    if files and code:
        click.echo("You can run only either source files or command-line code snippet.", err=True)
        sys.exit(1)
    if not files and not code:
        click.echo(
            'You should provide the command-line code snippet using "-c" option '
            "if run without files.",
            err=True,
        )
        sys.exit(1)
    mounts, mount_map = parse_mounts(mount)
    try:
        cases = expand_cases(
            parse_pairs(env, "-e/--env"),
            build,
            exec_,
            env_ranges=[parse_range(r) for r in env_range],
            build_ranges=[parse_range(r) for r in build_range],
            exec_ranges=[parse_range(r) for r in exec_range],
        )
    except TemplateError as e:
        print_fail(str(e))
        sys.exit(1)
    is_multi = len(cases) > 1
    if is_multi:
        if max_parallel <= 0:
            click.echo("--max-parallel must be a positive integer.", err=True)
            sys.exit(1)
        if not quiet:
            print_info("Running multiple sessions for the following combinations:")
            for case in cases:
                click.echo(case.describe())
    plan = RunPlan(
        image=image,
        create_args={
            "type_": type_, "starts_at": starts_at, "enqueue_only": enqueue_only,
            "max_wait": max_wait, "no_reuse": no_reuse, "cluster_size": cluster_size,
            "cluster_mode": cluster_mode, "mounts": mounts, "mount_map": mount_map,
            "resources": parse_pairs(resources, "-r/--resources"),
            "resource_opts": parse_pairs(resource_opts, "--resource-opts"),
            "domain_name": domain, "group_name": group, "scaling_group": scaling_group,
            "bootstrap_script": bootstrap_script.read() if bootstrap_script else None,
            "tag": tag, "preopen_ports": parse_ports(preopen),
        },
        files=files, basedir=basedir, code=code, clean=clean or "*",
        rm=rm, stats=stats, quiet=quiet, is_multi=is_multi,
    )  # fmt: skip
    sys.exit(run_until_done(lambda: _run_cases(plan, cases, prefix, max_parallel)))


async def _run_cases(plan: RunPlan, cases: list[Case], prefix: str, max_parallel: int) -> int:
    if not plan.quiet:
        print_info(f"Session name prefix: {prefix}")
    if plan.is_multi:
        print_info(f"Check out the stdout/stderr logs stored in {client_log_dir()} directory.")
    task = asyncio.current_task()
    assert task is not None
    interrupts = InterruptHandler(task)
    slots = asyncio.Semaphore(max_parallel)
    try:
        async with async_cli_session() as session:

            async def one(idx: int, case: Case) -> int | None:
                name = f"{prefix}-{idx}" if plan.is_multi else prefix
                async with slots:
                    return await _run_case(session, plan, idx, name, case, interrupts)

            with interrupts.installed():
                results = await asyncio.gather(
                    *(one(idx, case) for idx, case in enumerate(cases)), return_exceptions=True
                )
    except BackendError as e:  # the API session itself could not be opened
        print_error(e)
        return 1
    statuses: list[int] = []
    for idx, result in enumerate(results):
        if isinstance(result, asyncio.CancelledError):
            raise result
        if isinstance(result, BaseException):
            if not isinstance(result, CaseFailed):
                # Not reported yet (a bug rather than a server answer): show where it happened.
                print_fail(f"[{idx}] Unexpected error: {result!r}")
                traceback.print_exception(result)
            statuses.append(1)
        else:
            statuses.append(exit_status(result))
    if not plan.is_multi:
        return statuses[0]
    if any(statuses):
        print_fail("There were failed cases!")
        return 1
    return 0


async def _create(
    session: AsyncSession, plan: RunPlan, idx: int, name: str, case: Case
) -> AsyncComputeSession | None:
    """The case's session if it runs (reporting how it came to be); None if it is only
    queued; CaseFailed if it could not be created or ended instead of running."""
    try:
        cs = await session.ComputeSession.get_or_create(
            plan.image, name=name, envs=dict(case.envs), **plan.create_args
        )
    except BackendError as e:
        print_fail(f"[{idx}] " + "".join(format_error(e)))
        raise CaseFailed(str(e)) from e
    if cs.status == "RUNNING":
        if not plan.quiet:
            if cs.created:
                print_done(
                    f"[{idx}] Session {cs.name} is ready (domain={cs.domain}, group={cs.group})."
                )
            else:
                print_done(f"[{idx}] Reusing session {cs.name}...")
        return cs
    if not report_unready_session(name, cs.status):
        print_warn(f"Session ID {name} is {cs.status}; not running the code.")
    if cs.status in _QUEUED:
        return None
    raise CaseFailed(f"the session is {cs.status}")


async def _run_case(
    session: AsyncSession,
    plan: RunPlan,
    idx: int,
    name: str,
    case: Case,
    interrupts: InterruptHandler,
) -> int | None:
    """The program's exit code (None if nothing ran, or the server sent none)."""
    cs = await _create(session, plan, idx, name, case)
    if cs is None:
        return None
    with ExitStack() as logs:
        if plan.is_multi:
            out = CaseOutput(idx, *_open_logs(logs, name), quiet=plan.quiet, is_multi=True)
        else:
            out = CaseOutput(idx, sys.stdout, sys.stderr, quiet=plan.quiet)
        try:
            return await _execute_case(cs, plan, case, out, interrupts)
        finally:
            if plan.rm:
                await _clean_up(cs, plan, out)


async def _execute_case(
    cs: AsyncComputeSession,
    plan: RunPlan,
    case: Case,
    out: CaseOutput,
    interrupts: InterruptHandler,
) -> int | None:
    idx = out.idx
    exit_code: int | None = None
    try:
        if plan.files:
            if not plan.is_multi:
                out.wait(f"[{idx}] Uploading source files...")
            await cs.upload(plan.files, basedir=plan.basedir, show_progress=not plan.is_multi)
            if not plan.is_multi:
                out.done(f"[{idx}] Uploading done.")
            opts = {"clean": plan.clean, "build": case.build, "exec": case.exec}
            exit_code = await execute(cs, "batch", "", out, opts=opts, interrupts=interrupts)
        if plan.code:
            exit_code = await execute(cs, "query", plan.code, out, interrupts=interrupts)
    except BackendError as e:
        print_fail(f"[{idx}] {e}")
        raise CaseFailed(str(e)) from e
    except Exception as e:  # a client-side bug or I/O error: show where it happened
        print_fail(f"[{idx}] Execution failed!")
        traceback.print_exc()
        raise CaseFailed(str(e)) from e
    return exit_code


async def _clean_up(cs: AsyncComputeSession, plan: RunPlan, out: CaseOutput) -> None:
    idx = out.idx
    if not plan.is_multi:
        out.wait(f"[{idx}] Cleaning up the session...")
    try:
        answer = await cs.destroy()
    except BackendError as e:
        print_fail(f"[{idx}] Cleaning up the session failed: {e}")
        raise CaseFailed(str(e)) from e
    out.done(f"[{idx}] Cleaned up the session.")
    if not plan.stats:
        return
    stats = answer.get("stats") if answer else None
    if stats:
        table = format_stats(stats)
        click.echo(click.style("\u2219", fg="bright_cyan") + f" [{idx}] Statistics:\n{table}")
        if plan.is_multi:
            out.stderr.write(f"Statistics:\n{table}\n")
    else:
        print_warn(f"[{idx}] Statistics: unavailable.")
        if plan.is_multi:
            out.stderr.write("Statistics: unavailable.\n")


def _open_logs(stack: ExitStack, name: str) -> tuple[IO[str], IO[str]]:
    log_dir = client_log_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout = stack.enter_context((log_dir / f"{name}.stdout.log").open("w", encoding="utf-8"))
    stderr = stack.enter_context((log_dir / f"{name}.stderr.log").open("w", encoding="utf-8"))
    return stdout, stderr
