"""``admin domain`` and ``admin domains``."""

from __future__ import annotations

import click

from ..connection import cli_session
from ..pretty import print_fail

FIELDS = [
    ("Name", "name"),
    ("Description", "description"),
    ("Active?", "is_active"),
    ("Created At", "created_at"),
    ("Total Resource Slots", "total_resource_slots"),
    ("Allowed vFolder Hosts", "allowed_vfolder_hosts"),
    ("Allowed Docker Registries", "allowed_docker_registries"),
    ("Scaling Groups", "scaling_groups"),
]


@click.command()
@click.option("-n", "--name", default=None, help="The domain to show. [default: your own]")
def domain(name: str | None) -> None:
    """Show a domain; without --name, show the domain you belong to."""
    from tabulate import tabulate

    with cli_session() as session:
        info = session.Domain.detail(name=name, fields=[key for _, key in FIELDS])
    if info is None:
        print_fail("There is no such domain.")
        raise SystemExit(1)
    rows = [(label, info[key]) for label, key in FIELDS if key in info]
    click.echo(tabulate(rows, headers=("Field", "Value")))


@click.group(invoke_without_command=True)
@click.pass_context
def domains(ctx: click.Context) -> None:
    """List domains.

    (admin privilege required)
    """
    from tabulate import tabulate

    if ctx.invoked_subcommand is not None:
        return
    with cli_session() as session:
        items = session.Domain.list(fields=[key for _, key in FIELDS])
    if not items:
        click.echo("There is no domain.")
        return
    headers = [label for label, key in FIELDS if key in items[0]]
    click.echo(tabulate([list(item.values()) for item in items], headers=headers))
