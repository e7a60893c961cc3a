"""``backend.ai sweep list|info|cancel``: server-side sweeps (``run --type batch``)."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Sequence

import click

from backendai.common.batch_tasks import SweepCase, SweepInfo, SweepSummary

from .connection import cli_session
from .pretty import print_done, print_info

STATES = ("pending", "running", "success", "failure", "cancelled")


def progress_line(sweep: SweepSummary) -> str:
    """``NAME (ID): 12 cases, 2 pending, 1 running, 8 success, 1 failure, 0 cancelled``."""
    counts = ", ".join(f"{sweep.counts.get(state, 0)} {state}" for state in STATES)
    ending = "finished" if sweep.finished else "in progress"
    return f"Sweep {sweep.name} ({sweep.id}): {sweep.cases} cases, {counts} ({ending})"


def _environment(case: SweepCase) -> str:
    return " ".join(f"{key}={value}" for key, value in case.environ.items())


def _exit_code(case: SweepCase) -> str:
    return "" if case.exit_code is None else str(case.exit_code)


def case_table(cases: Sequence[SweepCase]) -> str:
    from tabulate import tabulate

    rows = [
        (c.index, c.session_name, c.status, c.result, _exit_code(c), _environment(c), c.task)
        for c in cases
    ]
    headers = ("#", "Session", "Status", "Result", "Exit code", "Environment", "Task")
    return tabulate(rows, headers=headers)


def _output_option(fn: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--output",
        type=click.Choice(["table", "json"]),
        default="table",
        help="table (default) or json, for scripts.",
    )(fn)


@click.group()
def sweep() -> None:
    """Server-side sweeps: the cases of a "run --type batch", run as batch sessions."""


@sweep.command(name="list")
@_output_option
def list_(output: str) -> None:
    """List your sweeps with their progress."""
    with cli_session() as session:
        sweeps = session.Batch.list_sweeps()
    if output == "json":
        click.echo(json.dumps([s.model_dump(mode="json") for s in sweeps], indent=2))
        return
    if not sweeps:
        print_info("There are no sweeps.")
        return
    from tabulate import tabulate

    rows = [
        (
            s.id,
            s.name,
            s.image,
            s.created_at.isoformat(timespec="seconds"),
            s.cases,
            *(s.counts.get(state, 0) for state in STATES),
            "yes" if s.finished else "no",
        )
        for s in sweeps
    ]
    headers = ("ID", "Name", "Image", "Created", "Cases", *(s.title() for s in STATES))
    click.echo(tabulate(rows, headers=(*headers, "Finished")))


@sweep.command()
@click.argument("sweep_id", metavar="SWEEP_ID", type=click.UUID)
@_output_option
def info(sweep_id: uuid.UUID, output: str) -> None:
    """Show a sweep's progress and each case: session, status, result and exit code.

    \b
    SWEEP_ID: the sweep's ID, as "run --type batch" and "sweep list" show it.
    """
    with cli_session() as session:
        found = session.Batch.sweep_info(sweep_id)
    _show(found, output)


@sweep.command()
@click.argument("sweep_id", metavar="SWEEP_ID", type=click.UUID)
def cancel(sweep_id: uuid.UUID) -> None:
    """Cancel a sweep: its queued cases are cancelled and its running ones terminated.

    Cases that already ended keep their results and task logs.

    \b
    SWEEP_ID: the sweep's ID, as "run --type batch" and "sweep list" show it.
    """
    with cli_session() as session:
        found = session.Batch.cancel_sweep(sweep_id)
    print_done(f"Cancelled the sweep {found.id}.")
    _show(found, "table")


def _show(found: SweepInfo, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(found.model_dump(mode="json", by_alias=True), indent=2))
        return
    click.echo(progress_line(found))
    click.echo(case_table(found.case_list))
    sys.stdout.flush()
