"""``server-logs list``: the server error log, newest first."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from .connection import cli_session


@click.group(name="server-logs")
def server_logs() -> None:
    """Provides operations related to server logs."""


@server_logs.command(name="list")
@click.option(
    "--mark-read", is_flag=True, default=False, help="Mark read flag for server logs being fetched."
)
@click.option(
    "-l", "--page-size", type=int, default=20, help="Number of logs to fetch (from latest log)"
)
@click.option("-n", "--page-number", type=int, default=1, help="Page number to fetch.")
def list_(mark_read: bool, page_size: int, page_number: int) -> None:
    """Fetch server (error) logs."""
    with cli_session() as session:
        result = session.ServerLog.list(mark_read, page_size, page_number)
    logs = result.get("logs")
    if logs is None:
        click.echo("No logs.")
        return
    click.echo(f"Total log count: {result.get('count', 0)}")
    for entry in logs:
        when = datetime.fromtimestamp(entry["created_at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        click.echo("----")
        click.echo(f"{when} {entry['severity'].upper()} {entry['source']} {entry['user']}")
        click.echo(f"{entry['request_status']} {entry['request_url']}")
        click.echo(entry["message"])
        click.echo(entry["traceback"])
