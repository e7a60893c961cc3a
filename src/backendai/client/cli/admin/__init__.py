"""``backend.ai admin ...``: administration commands (one module per resource)."""

from __future__ import annotations

import click

from .domains import domain, domains
from .groups import group, groups
from .keypairs import keypair, keypairs
from .sessions import session, sessions
from .users import user, users


@click.group(invoke_without_command=True)
@click.pass_context
def admin(ctx: click.Context) -> None:
    """Administer the platform: keypairs, users, domains, groups and sessions.

    What each command may see or change depends on the role of your keypair or login.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


for command in (domain, domains, group, groups, keypair, keypairs, session, sessions, user, users):
    admin.add_command(command)
