"""``vfolder invite``, ``invitations``, ``share``, ``unshare`` and ``leave``: folders used by
several users. An invitation waits for the invitee's answer; ``share`` (owners and admins)
gives access at once.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from .connection import cli_session
from .pretty import print_done, print_fail

if TYPE_CHECKING:
    from backendai.client.func.binding import SyncMode
    from backendai.client.func.vfolder import VFolder


@click.command()
@click.argument("name")
@click.argument("emails", nargs=-1, required=True)
@click.option(
    "-p", "--perm", metavar="PERMISSION", default="rw",
    help='Permission to give. "ro" (read-only) / "rw" (read-write).',
)  # fmt: skip
def invite(name: str, emails: tuple[str, ...], perm: str) -> None:
    """Invite other users to access the virtual folder.

    \b
    NAME: Name of a virtual folder.
    EMAIL: Emails to invite.
    """
    if perm not in ("ro", "rw", "wd"):
        print_fail(f"Invalid permission: {perm}")
        sys.exit(2)
    with cli_session() as session:
        vf = session.VFolder
        result = vf(name).invite(perm, emails)
    invited = result.get("invited_ids", [])
    if not invited:
        click.echo("No users found. Invitation was not sent.")
        return
    click.echo("Invitation sent to:")
    for invitee in invited:
        click.echo(f"\t- {invitee}")


PERM_WORDS = {"ro": "read-only", "rw": "read-write", "wd": "read-write-delete"}


@click.command()
@click.option("--accept", "accept_id", metavar="ID", help="Accept the invitation with this ID.")
@click.option("--reject", "reject_id", metavar="ID", help="Reject the invitation with this ID.")
def invitations(accept_id: str | None, reject_id: str | None) -> None:
    """List and manage received invitations."""
    from tabulate import tabulate

    with cli_session() as session:
        vf = session.VFolder
        if accept_id or reject_id:
            _answer(vf, accept_id, reject_id)
            return
        items = vf.invitations().get("invitations", [])
        if not items:
            click.echo("No invitations.")
            return
        rows = [
            [n + 1, i.get("id"), i.get("inviter"), i.get("vfolder_name"),
             PERM_WORDS.get(i.get("perm", ""), i.get("perm")), i.get("created_at")]
            for n, i in enumerate(items)
        ]  # fmt: skip
        click.echo(tabulate(rows, ["#", "ID", "Inviter", "Folder", "Permission", "Created At"]))
        if not sys.stdin.isatty():
            return
        choice = click.prompt(
            "Choose an invitation number to manage", default="", show_default=False
        )
        if not choice.isdigit() or not 0 < int(choice) <= len(items):
            return
        chosen = items[int(choice) - 1]
        action = click.prompt(
            "Choose action. (a)ccept, (r)eject, (c)ancel", type=click.Choice(["a", "r", "c"])
        )
        if action != "c":
            inv = str(chosen["id"])
            _answer(vf, inv if action == "a" else None, inv if action == "r" else None)


def _answer(vf: VFolder[SyncMode], accept_id: str | None, reject_id: str | None) -> None:
    if accept_id:
        vf.accept_invitation(accept_id)
        print_done(f"Accepted the invitation {accept_id}.")
    if reject_id:
        vf.delete_invitation(reject_id)
        print_done(f"Rejected the invitation {reject_id}.")


@click.command()
@click.argument("name")
@click.argument("emails", nargs=-1, required=True)
@click.option(
    "-p", "--permission", metavar="PERMISSION", default="rw",
    help='Permission to give: "ro", "rw" (default) or "wd".',
)  # fmt: skip
def share(name: str, emails: tuple[str, ...], permission: str) -> None:
    """Share the virtual folder with users at once (no invitation).

    \b
    NAME: Name of a virtual folder.
    EMAILS: Emails of the users to share it with.
    """
    with cli_session() as session:
        vf = session.VFolder
        result = vf(name).share(permission, emails)
    print_done(f"Shared with: {', '.join(result.get('shared_emails', []))}")


@click.command()
@click.argument("name")
@click.argument("emails", nargs=-1, required=True)
def unshare(name: str, emails: tuple[str, ...]) -> None:
    """Stop sharing the virtual folder with users.

    \b
    NAME: Name of a virtual folder.
    EMAILS: Emails of the users to stop sharing it with.
    """
    with cli_session() as session:
        vf = session.VFolder
        result = vf(name).unshare(emails)
    print_done(f"Unshared from: {', '.join(result.get('unshared_emails', []))}")


@click.command()
@click.argument("name")
def leave(name: str) -> None:
    """Leave the shared virutal folder.

    NAME: Name of a virtual folder
    """
    with cli_session() as session:
        vf = session.VFolder
        vf(name).leave()
    click.echo(f'Left the shared virtual folder "{name}".')
