"""``admin group`` and ``admin groups``."""

from __future__ import annotations

import click

from ..connection import cli_session
from .mutating import check_ok, confirmed, failing_as

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
@click.option("-d", "--domain-name", default=None, help="Domain name to list groups belongs to it.")
@click.pass_context
def groups(ctx: click.Context, domain_name: str | None) -> None:
    """List and manage groups. (admin privilege required)"""
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


@groups.command()
@click.argument("domain_name", metavar="DOMAIN_NAME")
@click.argument("name", metavar="NAME")
@click.option("-d", "--description", default="", help="Description of new group.")
@click.option("-i", "--inactive", is_flag=True, help="New group will be inactive.")
@click.option("--total-resource-slots", default="{}", help="Set total resource slots.")
@click.option("--allowed-vfolder-hosts", multiple=True, help="Allowed virtual folder hosts.")
def add(
    domain_name: str,
    name: str,
    description: str,
    inactive: bool,
    total_resource_slots: str,
    allowed_vfolder_hosts: tuple[str, ...],
) -> None:
    """Add new group. A group must belong to a domain, so DOMAIN_NAME should be provided.

    \b
    DOMAIN_NAME: Name of the domain where new group belongs to.
    NAME: Name of new group.
    """
    with cli_session() as session, failing_as("Group creation"):
        answer = session.Group.create(
            domain_name, name, description=description, is_active=not inactive,
            total_resource_slots=total_resource_slots,
            allowed_vfolder_hosts=list(allowed_vfolder_hosts),
        )  # fmt: skip
    check_ok(answer, "Group creation")
    item = answer.get("group") or {}
    click.echo(f"Group name {item.get('name')} is created in domain {item.get('domain_name')}.")


@groups.command()
@click.argument("gid", metavar="GROUP_ID")
@click.option("-n", "--name", default=None, help="New name of the group")
@click.option("-d", "--description", default=None, help="Description of the group")
@click.option("--is-active", type=bool, default=None, help="Set group inactive.")
@click.option("--total-resource-slots", default=None, help="Update total resource slots.")
@click.option("--allowed-vfolder-hosts", multiple=True, help="Allowed virtual folder hosts.")
def update(
    gid: str,
    name: str | None,
    description: str | None,
    is_active: bool | None,
    total_resource_slots: str | None,
    allowed_vfolder_hosts: tuple[str, ...],
) -> None:
    """Update an existing group. Domain name is not necessary since group ID is unique.

    GROUP_ID: Group ID to update.
    """
    with cli_session() as session, failing_as("Group update"):
        answer = session.Group.update(
            gid, name=name, description=description, is_active=is_active,
            total_resource_slots=total_resource_slots,
            allowed_vfolder_hosts=list(allowed_vfolder_hosts) or None,
        )  # fmt: skip
    check_ok(answer, "Group update")
    click.echo(f"Group {gid} is updated.")


@groups.command()
@click.argument("gid", metavar="GROUP_ID")
def delete(gid: str) -> None:
    """Inactivates the existing group. Does not actually delete it for safety.

    GROUP_ID: Group ID to inactivate.
    """
    with cli_session() as session, failing_as("Group inactivation"):
        answer = session.Group.delete(gid)
    check_ok(answer, "Group inactivation")
    click.echo(f"Group is inactivated: {gid}.")


@groups.command()
@click.argument("gid", metavar="GROUP_ID")
def purge(gid: str) -> None:
    """Delete the existing group. This action cannot be undone.

    GROUP_ID: Group ID to delete.
    """
    if not confirmed():
        raise SystemExit(1)
    with cli_session() as session, failing_as("Group deletion"):
        answer = session.Group.purge(gid)
    check_ok(answer, "Group deletion")
    click.echo(f"Group is deleted: {gid}.")


@groups.command()
@click.argument("gid", metavar="GROUP_ID")
@click.argument("user_uuids", metavar="USER_UUIDS", nargs=-1)
def add_users(gid: str, user_uuids: tuple[str, ...]) -> None:
    """Add users to a group.

    \b
    GROUP_ID: Group ID where users will be belong to.
    USER_UUIDS: List of users' uuids to be added to the group.
    """
    with cli_session() as session, failing_as("Adding users to the group"):
        answer = session.Group.add_users(gid, list(user_uuids))
    check_ok(answer, "Adding users to the group")
    click.echo("Users are added to the group")


@groups.command()
@click.argument("gid", metavar="GROUP_ID")
@click.argument("user_uuids", metavar="USER_UUIDS", nargs=-1)
def remove_users(gid: str, user_uuids: tuple[str, ...]) -> None:
    """Remove users from a group.

    \b
    GROUP_ID: Group ID where users currently belong to.
    USER_UUIDS: List of users' uuids to be removed from the group.
    """
    with cli_session() as session, failing_as("Removing users from the group"):
        answer = session.Group.remove_users(gid, list(user_uuids))
    check_ok(answer, "Removing users from the group")
    click.echo("Users are removed from the group")
