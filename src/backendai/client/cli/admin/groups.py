"""``admin group`` and ``admin groups``."""

from __future__ import annotations

import click

from ..connection import cli_session

FIELDS = [
    ("ID", "id"),
    ("Name", "name"),
    ("Domain", "domain_name"),
    ("Description", "description"),
    ("Active?", "is_active"),
    ("Created At", "created_at"),
    ("Total Resource Slots", "total_resource_slots"),
    ("Allowed vFolder Hosts", "allowed_vfolder_hosts"),
]


@click.command()
@click.argument("gid", metavar="GID")
def group(gid: str) -> None:
    """Show a group (project).

    \b
    GID: the group's ID (a UUID).
    """
    from tabulate import tabulate

    with cli_session() as session:
        info = session.Group.detail(gid, fields=[key for _, key in FIELDS])
    if info is None:
        click.echo("There is no such group.")
        raise SystemExit(1)
    rows = [(label, info[key]) for label, key in FIELDS if key in info]
    click.echo(tabulate(rows, headers=("Field", "Value")))


@click.group(invoke_without_command=True)
@click.option("-d", "--domain-name", default=None, help="Only the groups of this domain.")
@click.pass_context
def groups(ctx: click.Context, domain_name: str | None) -> None:
    """List groups (projects).

    (admin privilege required)
    """
    from tabulate import tabulate

    if ctx.invoked_subcommand is not None:
        return
    with cli_session() as session:
        items = session.Group.list(domain_name=domain_name, fields=[key for _, key in FIELDS])
    if not items:
        click.echo("There is no group.")
        return
    headers = [label for label, key in FIELDS if key in items[0]]
    click.echo(tabulate([list(item.values()) for item in items], headers=headers))
