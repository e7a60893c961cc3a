"""``backend.ai session commit``: a running session's container to a new private image.

Backend.AI's client 20.9.9 has no such command; the image belongs to the session's owner (an
admin commits a user's session with ``-o``), and ``/home/work`` is not in it.
"""

from __future__ import annotations

import json

import click

from .connection import cli_session
from .pretty import print_done, print_info


@click.group()
def session() -> None:
    """Operations on one compute session."""


@session.command()
@click.argument("session_name", metavar="SESSID")
@click.option(
    "-o",
    "--owner",
    "--owner-access-key",
    "owner",
    metavar="ACCESS_KEY",
    default=None,
    help="The session belongs to this access key (admins only).",
)
@click.option("--name", "image_name", default=None, help="The new image's short name (lowercase).")
@click.option("--tag", default=None, help="The new image's tag. [default: session name + time]")
@click.option(
    "--share-with-group", is_flag=True, help="Let the members of the session's group use it."
)
@click.option(
    "--output", type=click.Choice(["console", "json"]), default="console", show_default=True
)
def commit(
    session_name: str,
    owner: str | None,
    image_name: str | None,
    tag: str | None,
    share_with_group: bool,
    output: str,
) -> None:
    """Commit a running session to a new private image of its owner.

    SESSID: the session's name or ID. Files under /home/work are not in the image.
    """
    with cli_session() as api:
        result = api.Image.commit_session(
            session_name, owner_access_key=owner, image_name=image_name, tag=tag,
            share_with_group=share_with_group,
        )  # fmt: skip
    if output == "json":
        click.echo(json.dumps(result.model_dump(mode="json")))
        return
    print_done(f"The session {session_name} is committed to a new private image:")
    click.echo(result.image)
    shared = f", shared with the group {result.group}" if result.group else ""
    print_info(f"Owner: {result.owner}{shared}. Start a session with: run/start {result.image}")
