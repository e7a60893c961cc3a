"""``backend.ai update-password``: change your own password."""

from __future__ import annotations

import click

from .connection import cli_session
from .pretty import print_done


@click.command()
@click.argument("old_password", metavar="OLD_PASSWORD")
@click.argument("new_password", metavar="NEW_PASSWORD")
@click.argument("new_password2", metavar="NEW_PASSWORD2")
def update_password(old_password: str, new_password: str, new_password2: str) -> None:
    """Update user's password."""
    with cli_session() as session:
        session.Auth.update_password(old_password, new_password, new_password2)
    print_done("Password updated.")
