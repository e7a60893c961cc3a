"""``manager status/freeze/unfreeze`` (and the ``scheduler`` group of ``scheduler.py``)."""

from __future__ import annotations

import time

import click

from .connection import cli_session
from .pretty import print_done, print_wait
from .scheduler import scheduler

WAIT_INTERVAL = 3.0


@click.group()
def manager() -> None:
    """Provides manager-related operations."""


manager.add_command(scheduler)


@manager.command()
def status() -> None:
    """Show the manager's current status."""
    from tabulate import tabulate

    with cli_session() as session:
        info = session.Manager.status()
    rows = [("Status", "Active Sessions"), (info.get("status"), info.get("active_sessions"))]
    click.echo(tabulate(rows, headers="firstrow"))


@manager.command()
@click.option(
    "--wait",
    is_flag=True,
    help="Hold up freezing the manager until there are no running sessions in the manager.",
)
@click.option(
    "--force-kill",
    is_flag=True,
    help="Kill all running sessions immediately and freeze the manager.",
)
def freeze(wait: bool, force_kill: bool) -> None:
    """Freeze manager."""
    if wait and force_kill:
        click.echo(
            "You cannot use both --wait and --force-kill options at the same time.", err=True
        )
        raise SystemExit(1)
    with cli_session() as session:
        if wait:
            while (left := int(session.Manager.status().get("active_sessions", 0))) > 0:
                print_wait(f"Waiting for all sessions terminated... ({left} left)")
                time.sleep(WAIT_INTERVAL)
            print_done("All sessions are terminated.")
        if force_kill:
            print_wait("Killing all sessions...")
        session.Manager.freeze(force_kill=force_kill)
        if force_kill:
            print_done("All sessions are killed.")
    click.echo("Manager is successfully frozen.")


@manager.command()
def unfreeze() -> None:
    """Unfreeze manager."""
    with cli_session() as session:
        session.Manager.unfreeze()
    click.echo("Manager is successfully unfrozen.")
