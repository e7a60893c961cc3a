"""``admin user`` and ``admin users``."""

from __future__ import annotations

from typing import Any

import click

from ..connection import cli_session
from ..pagination import echo_via_pager, preferred_page_size, tabulate_items
from .mutating import check_ok, confirmed, failing_as

FIELDS = [
    ("UUID", "uuid"),
    ("Username", "username"),
    ("Role", "role"),
    ("Email", "email"),
    ("Name", "full_name"),
    ("Need Password Change", "need_password_change"),
    ("Status", "status"),
    ("Status Info", "status_info"),
    ("Created At", "created_at"),
    ("Domain Name", "domain_name"),
    ("Groups", "groups { id name }"),
]


def _groups(value: Any) -> list[dict[str, Any]]:
    return [g for g in value if isinstance(g, dict)] if isinstance(value, list) else []


@click.command()
@click.option("-e", "--email", default=None, help="The email of the user to show.")
def user(email: str | None) -> None:
    """Show a user by email; without --email, show yourself."""
    from tabulate import tabulate

    with cli_session() as session:
        info = session.User.detail(email=email, fields=[key for _, key in FIELDS])
    if info is None:
        click.echo("There is no such user.")
        raise SystemExit(1)
    rows: list[tuple[str, Any]] = []
    for label, key in FIELDS:
        if key.startswith("groups "):
            names = [f"{g.get('name')} ({g.get('id')})" for g in _groups(info.get("groups"))]
            rows.append((label, ",\n".join(names)))
        else:
            rows.append((label, info.get(key)))
    click.echo(tabulate(rows, headers=("Field", "Value")))


@click.group(invoke_without_command=True)
@click.option(
    "-s",
    "--status",
    default=None,
    help="Only users in this state (active, inactive, deleted, before-verification).",
)
@click.option("-g", "--group", default=None, help="Only members of this group (its UUID).")
@click.option("--filter", "filter_", default=None, help="A filter expression for the query.")
@click.option("--order", default=None, help="An ordering expression for the query.")
@click.pass_context
def users(
    ctx: click.Context,
    status: str | None,
    group: str | None,
    filter_: str | None,
    order: str | None,
) -> None:
    """List and manage users. (admin privilege required)"""
    if ctx.invoked_subcommand is not None:
        return

    def flatten(item: dict[str, Any]) -> None:
        item["groups"] = ", ".join(str(g.get("name")) for g in _groups(item.get("groups")))

    with cli_session() as session:
        items = session.User.paginated_list(
            status,
            group,
            fields=[key for _, key in FIELDS],
            page_size=preferred_page_size(),
            filter=filter_,
            order=order,
        )
        if not echo_via_pager(tabulate_items(items, FIELDS, item_formatter=flatten)):
            click.echo("There are no matching users.")


@users.command()
@click.argument("domain_name", metavar="DOMAIN_NAME")
@click.argument("email", metavar="EMAIL")
@click.argument("password", metavar="PASSWORD")
@click.option("-u", "--username", default="", help="Username.")
@click.option("-n", "--full-name", default="", help="Full name.")
@click.option(
    "-r", "--role", default="user", help="Role of the user. One of (admin, user, monitor)."
)
@click.option(
    "-s",
    "--status",
    default="active",
    help="Account status. One of (active, inactive, deleted, before-verification).",
)
@click.option(
    "--need-password-change",
    is_flag=True,
    help="Flag indicate that user needs to change password. "
    "Useful when admin manually create password.",
)
@click.option("--description", default="", help="Description of the user.")
def add(
    domain_name: str,
    email: str,
    password: str,
    username: str,
    full_name: str,
    role: str,
    status: str,
    need_password_change: bool,
    description: str,
) -> None:
    """Add new user. A user must belong to a domain, so DOMAIN_NAME should be provided.

    \b
    DOMAIN_NAME: Name of the domain where new user belongs to.
    EMAIL: Email of new user.
    PASSWORD: Password of new user.
    """
    with cli_session() as session, failing_as("User creation"):
        answer = session.User.create(
            domain_name, email, password, username=username, full_name=full_name, role=role,
            status=status, need_password_change=need_password_change, description=description,
        )  # fmt: skip
    check_ok(answer, "User creation")
    item = answer.get("user") or {}
    click.echo(f"User {item.get('email')} is created in domain {item.get('domain_name')}.")


@users.command()
@click.argument("email", metavar="EMAIL")
@click.option("-p", "--password", default=None, help="Password.")
@click.option("-u", "--username", default=None, help="Username.")
@click.option("-n", "--full-name", default=None, help="Full name.")
@click.option("-d", "--domain-name", default=None, help="Domain name.")
@click.option("-r", "--role", default=None, help="Role of the user. One of (admin, user, monitor).")
@click.option(
    "-s",
    "--status",
    default=None,
    help="Account status. One of (active, inactive, deleted, before-verification).",
)
@click.option(
    "--need-password-change",
    is_flag=True,
    default=None,
    help="Flag indicate that user needs to change password. "
    "Useful when admin manually create password.",
)
@click.option("--description", default=None, help="Description of the user.")
def update(
    email: str,
    password: str | None,
    username: str | None,
    full_name: str | None,
    domain_name: str | None,
    role: str | None,
    status: str | None,
    need_password_change: bool | None,
    description: str | None,
) -> None:
    """Update an existing user.

    EMAIL: Email of user to update. Only the options given change (unlike Backend.AI's
    client, a missing --role keeps the user's role).
    """
    with cli_session() as session, failing_as("User update"):
        answer = session.User.update(
            email, password=password, username=username, full_name=full_name,
            domain_name=domain_name, role=role, status=status,
            need_password_change=need_password_change or None, description=description,
        )  # fmt: skip
    check_ok(answer, "User update")
    click.echo(f"User {email} is updated.")


@users.command()
@click.argument("email", metavar="EMAIL")
def delete(email: str) -> None:
    """Inactivate an existing user.

    EMAIL: Email of user to inactivate.
    """
    with cli_session() as session, failing_as("User inactivation"):
        answer = session.User.delete(email)
    check_ok(answer, "User inactivation")
    click.echo(f"User is inactivated: {email}.")


@users.command()
@click.argument("email", metavar="EMAIL")
@click.option(
    "--purge-shared-vfolders",
    is_flag=True,
    default=False,
    help="Delete user's all virtual folders. If False, shared folders will not be deleted "
    "and migrated the ownership to the requested admin.",
)
def purge(email: str, purge_shared_vfolders: bool) -> None:
    """Delete an existing user. This action cannot be undone.

    EMAIL: Email of the user to delete.
    """
    if not confirmed():
        raise SystemExit(1)
    with cli_session() as session, failing_as("User deletion"):
        answer = session.User.purge(email, purge_shared_vfolders)
    check_ok(answer, "User deletion")
    click.echo(f"User is deleted: {email}.")
