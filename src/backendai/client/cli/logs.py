"""``backend.ai logs``: a session container's console output."""

from __future__ import annotations

import sys

import click

from backendai.client.exceptions import BackendError

from .connection import cli_session
from .pretty import print_done, print_error, print_wait


@click.command()
@click.argument("session_id", metavar="SESSID")
def logs(session_id: str) -> None:
    """Show the console output (stdout and stderr) of a session's container.

    SESSID: the session's name or ID; finished sessions' logs are kept by the server.
    """
    with cli_session() as session:
        try:
            print_wait("Retrieving live container logs...")
            answer = session.ComputeSession(session_id).get_logs()
        except BackendError as e:
            print_error(e)
            sys.exit(1)
    result = answer.get("result")
    text = result.get("logs", "") if isinstance(result, dict) else ""
    # Verbatim, colors included (click.echo would strip them when piped).
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()
    print_done("End of logs.")
