"""``manager scheduler``: include agents in or exclude them from scheduling."""

from __future__ import annotations

import click

from .connection import cli_session
from .pretty import print_done


@click.group()
def scheduler() -> None:
    """The scheduler operation command group."""


@scheduler.command()
@click.argument("agent_ids", nargs=-1)
def include_agents(agent_ids: tuple[str, ...]) -> None:
    """Include agents in scheduling, meaning that the given agents will be considered to be
    ready for creating new session containers."""
    with cli_session() as session:
        session.Scheduler.operate("include-agents", list(agent_ids))
    print_done("The scheduler operation is done.")


@scheduler.command()
@click.argument("agent_ids", nargs=-1)
def exclude_agents(agent_ids: tuple[str, ...]) -> None:
    """Exclude agents from scheduling, meaning that the given agents will no longer start new
    sessions unless they are "included" again, regardless of their restarts and rejoining
    events."""
    with cli_session() as session:
        session.Scheduler.operate("exclude-agents", list(agent_ids))
    print_done("The scheduler operation is done.")
