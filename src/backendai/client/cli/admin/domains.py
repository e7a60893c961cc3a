"""``admin domain`` and ``admin domains``."""

from __future__ import annotations

import click

from ..connection import cli_session
from ..pretty import print_fail
from .mutating import check_ok, confirmed, failing_as

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
    """List and manage domains. (admin privilege required)"""
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


@domains.command()
@click.argument("name", metavar="NAME")
@click.option("-d", "--description", default="", help="Description of new domain")
@click.option("-i", "--inactive", is_flag=True, help="New domain will be inactive.")
@click.option("--total-resource-slots", default="{}", help="Set total resource slots.")
@click.option("--allowed-vfolder-hosts", multiple=True, help="Allowed virtual folder hosts.")
@click.option("--allowed-docker-registries", multiple=True, help="Allowed docker registries.")
def add(
    name: str,
    description: str,
    inactive: bool,
    total_resource_slots: str,
    allowed_vfolder_hosts: tuple[str, ...],
    allowed_docker_registries: tuple[str, ...],
) -> None:
    """Add a new domain.

    NAME: Name of new domain.
    """
    with cli_session() as session, failing_as("Domain creation"):
        answer = session.Domain.create(
            name, description=description, is_active=not inactive,
            total_resource_slots=total_resource_slots,
            allowed_vfolder_hosts=list(allowed_vfolder_hosts),
            allowed_docker_registries=list(allowed_docker_registries),
        )  # fmt: skip
    check_ok(answer, "Domain creation")
    click.echo(f"Domain name {(answer.get('domain') or {}).get('name')} is created.")


@domains.command()
@click.argument("name", metavar="NAME")
@click.option("--new-name", default=None, help="New name of the domain")
@click.option("--description", default=None, help="Description of the domain")
@click.option("--is-active", type=bool, default=None, help="Set domain inactive.")
@click.option("--total-resource-slots", default=None, help="Update total resource slots.")
@click.option("--allowed-vfolder-hosts", multiple=True, help="Allowed virtual folder hosts.")
@click.option("--allowed-docker-registries", multiple=True, help="Allowed docker registries.")
def update(
    name: str,
    new_name: str | None,
    description: str | None,
    is_active: bool | None,
    total_resource_slots: str | None,
    allowed_vfolder_hosts: tuple[str, ...],
    allowed_docker_registries: tuple[str, ...],
) -> None:
    """Update an existing domain.

    NAME: Name of new domain.
    """
    with cli_session() as session, failing_as("Domain update"):
        answer = session.Domain.update(
            name, new_name=new_name, description=description, is_active=is_active,
            total_resource_slots=total_resource_slots,
            allowed_vfolder_hosts=list(allowed_vfolder_hosts) or None,
            allowed_docker_registries=list(allowed_docker_registries) or None,
        )  # fmt: skip
    check_ok(answer, "Domain update")
    click.echo(f"Domain {name} is updated.")


@domains.command()
@click.argument("name", metavar="NAME")
def delete(name: str) -> None:
    """Inactive an existing domain.

    NAME: Name of a domain to inactive.
    """
    with cli_session() as session, failing_as("Domain inactivation"):
        answer = session.Domain.delete(name)
    check_ok(answer, "Domain inactivation")
    click.echo(f"Domain is inactivated: {name}.")


@domains.command()
@click.argument("name", metavar="NAME")
def purge(name: str) -> None:
    """Delete an existing domain.

    NAME: Name of a domain to delete.
    """
    if not confirmed():
        raise SystemExit(1)
    with cli_session() as session, failing_as("Domain deletion"):
        answer = session.Domain.purge(name)
    check_ok(answer, "Domain deletion")
    click.echo(f"Domain is deleted: {name}.")
