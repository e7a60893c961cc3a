"""``admin show-license`` and ``admin watcher ...``: features of Backend.AI's enterprise
edition. This platform is the open edition: the server says so, and so do these commands."""

from __future__ import annotations

import click

from backendai.client.exceptions import BackendAPIError

from ..connection import cli_session
from ..pretty import print_done, print_fail, print_info

NOT_AVAILABLE = "/not-available"  # the problem type's slug


def _not_available(e: BackendAPIError) -> bool:
    return str(e.data.get("type", "")).endswith(NOT_AVAILABLE)


def _server_message(e: BackendAPIError) -> str:
    return str(e.data.get("msg") or e.data.get("title") or e.reason)


@click.command(name="show-license")
def show_license() -> None:
    """Show the license information (enterprise editions only)."""
    from tabulate import tabulate

    with cli_session() as session:
        try:
            data = session.Editions.license()
        except BackendAPIError as e:
            if not _not_available(e):
                raise
            print_info(_server_message(e))
            return
    if data.get("status") == "valid":
        print_done("Your license is valid.")
        click.echo(tabulate(list((data.get("certificate") or {}).items())))
    else:
        print_fail("Your license is not valid.")
        raise SystemExit(1)


@click.group()
def watcher() -> None:
    """Provides agent watcher operations.

    Watcher operations are available only for Linux distributions.
    """


def _watcher_command(name: str, op: str | None, doc: str) -> click.Command:
    def run(agent: str) -> None:
        with cli_session() as session:
            try:
                click.echo(session.Editions.watcher(agent, op))
            except BackendAPIError as e:
                if not _not_available(e):
                    raise
                print_fail(_server_message(e))
                raise SystemExit(1) from None

    run.__doc__ = f"{doc}\n(superadmin privilege required)\n\n\b\nAGENT: Agent id."
    return click.command(name=name)(click.argument("agent", type=str)(run))


for _name, _op, _doc in (
    ("status", None, "Get agent and watcher status."),
    ("agent-start", "start", "Start agent service."),
    ("agent-stop", "stop", "Stop agent service."),
    ("agent-restart", "restart", "Restart agent service."),
):
    watcher.add_command(_watcher_command(_name, _op, _doc))
