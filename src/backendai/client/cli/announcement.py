"""``announcement get/update/delete/dismiss``: the message every command shows once."""

from __future__ import annotations

import click

from backendai.client import announcements

from .connection import cli_session
from .pretty import print_done, print_fail, print_info

EDITOR_TEMPLATE = "<!-- Use Markdown format to edit the announcement message -->"


@click.group()
def announcement() -> None:
    """Global announcement related commands"""


@announcement.command()
def get() -> None:
    """Get current announcement."""
    with cli_session() as session:
        result = session.Manager.announcement()
    click.echo(result["message"] if result.get("enabled") else "No announcements.")


@announcement.command()
@click.option("-m", "--message", default=None, type=click.STRING)
def update(message: str | None) -> None:
    """Post new announcement.

    MESSAGE: Announcement message.
    """
    if message is None:
        message = click.edit(EDITOR_TEMPLATE)
    if message is None:
        print_info("Cancelled")
        raise SystemExit(1)
    with cli_session() as session:
        session.Manager.update_announcement(enabled=True, message=message)
    print_done("Posted new announcement.")


def _confirmed() -> bool:
    """Backend.AI's question: yes unless answered no."""
    while True:
        try:
            answer = input("Are you sure? [Y/n] ").strip().lower() or "y"
        except EOFError:
            return False
        if answer in ("y", "yes", "n", "no"):
            return answer.startswith("y")


@announcement.command()
def delete() -> None:
    """Delete current announcement."""
    if not _confirmed():
        print_info("Cancelled.")
        raise SystemExit(1)
    with cli_session() as session:
        session.Manager.update_announcement(enabled=False)
    print_done("Deleted announcement.")


@announcement.command()
def dismiss() -> None:
    """Do not show the same announcement again."""
    if not _confirmed():
        print_info("Cancelled.")
        raise SystemExit(1)
    if not announcements.dismiss():
        print_fail("No announcements seen yet.")
        raise SystemExit(1)
    print_done("Dismissed the last shown announcement.")
