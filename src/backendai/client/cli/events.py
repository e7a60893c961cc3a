"""``backend.ai events``: follow a session's lifecycle events (server-sent events)."""

from __future__ import annotations

import asyncio
import sys
import uuid

import click

from backendai.client.exceptions import BackendError

from .connection import async_cli_session
from .pretty import print_error


@click.command()
@click.argument("session_name_or_id", metavar="SESSION_ID_OR_NAME")
@click.option(
    "-o",
    "--owner",
    "--owner-access-key",
    "owner_access_key",
    metavar="ACCESS_KEY",
    default=None,
    help="The session belongs to this access key (admins only).",
)
@click.option(
    "--scope",
    type=click.Choice(["*", "session", "kernel"]),
    default="*",
    help="Only session events, only kernel (container) events, or both (*).",
)
def events(session_name_or_id: str, owner_access_key: str | None, scope: str) -> None:
    """Print a session's lifecycle events as they happen, until the session ends.

    The session may be named before it exists, to watch it being scheduled and started.

    SESSION_ID_OR_NAME: the session's UUID or name.
    """
    try:
        asyncio.run(_follow(session_name_or_id, owner_access_key, scope))
    except BackendError as e:
        print_error(e)
        sys.exit(1)
    except KeyboardInterrupt:  # the usual way to stop following
        pass


async def _follow(ref: str, owner_access_key: str | None, scope: str) -> None:
    async with async_cli_session() as session:
        try:
            cs = session.ComputeSession.from_session_id(uuid.UUID(ref))
        except ValueError:
            cs = session.ComputeSession(ref, owner_access_key)
        async for message in cs.stream_events(scope=scope):
            # Like Backend.AI's client: the colored event name, then the data as a Python
            # value (always with colors, even when piped).
            name = click.style(message.event, fg="cyan", bold=True)
            sys.stdout.write(f"{name} {message.json()}\n")
            sys.stdout.flush()
