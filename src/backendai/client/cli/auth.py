"""``backend.ai login`` / ``logout``: the webserver's cookie login (session mode only)."""

from __future__ import annotations

import sys

import click

from .connection import cli_session, load_config
from .pretty import print_done, print_fail, print_warn


def _require_session_mode(action: str) -> None:
    if load_config().endpoint_type != "session":
        print_warn(f'To use {action}, your endpoint type must be "session".')
        raise click.Abort()


def _read_password() -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Password: ")
    # Piped input (scripts, tests): read the next line without touching the terminal.
    click.echo("Password: ", nl=False, err=True)
    line = sys.stdin.readline()
    click.echo("", err=True)
    return line.rstrip("\r\n")


@click.command()
def login() -> None:
    """Log in to the webserver (session mode) and keep the login cookie for later commands.

    It asks for the user ID (the email) and the password. The cookie is kept in
    $XDG_STATE_HOME/backend.ai/ (by default ~/.local/state/backend.ai/).
    """
    _require_session_mode("login")
    try:
        user_id = input("User ID: ")
        password = _read_password()
    except EOFError:
        raise click.Abort() from None
    with cli_session() as session:
        result = session.Auth.login(user_id, password)
    if not result.authenticated:
        print_fail("Login failed.")
        sys.exit(1)
    print_done("Login succeeded.")


@click.command()
def logout() -> None:
    """Log out from the webserver (session mode) and delete the kept login cookie."""
    _require_session_mode("logout")
    with cli_session() as session:
        session.Auth.logout()
    print_done("Logout done.")
