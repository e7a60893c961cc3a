"""``admin user`` and ``admin users``."""

from __future__ import annotations

from typing import Any

import click

from ..connection import cli_session
from ..pagination import echo_via_pager, preferred_page_size, tabulate_items

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
    """List users.

    (admin privilege required)
    """
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
