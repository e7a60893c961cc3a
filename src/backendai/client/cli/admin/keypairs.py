"""``admin keypair`` and ``admin keypairs``."""

from __future__ import annotations

from typing import Any

import click

from ..connection import cli_session
from ..pagination import echo_via_pager, preferred_page_size, tabulate_items
from ..pretty import print_fail

FIELDS = [
    ("Email", "user_id"),
    ("Full Name", "user_info { full_name }"),
    ("Access Key", "access_key"),
    ("Secret Key", "secret_key"),
    ("Active?", "is_active"),
    ("Admin?", "is_admin"),
    ("Created At", "created_at"),
    ("Last Used", "last_used"),
    ("Res.Policy", "resource_policy"),
    ("Rate Limit", "rate_limit"),
    ("Concur.Limit", "concurrency_limit"),
    ("Concur.Used", "concurrency_used"),
]


def _full_name(user_info: Any) -> Any:
    return user_info.get("full_name", "") if isinstance(user_info, dict) else ""


@click.command()
def keypair() -> None:
    """Show what the server knows about the keypair you are using."""
    from tabulate import tabulate

    with cli_session() as session:
        info = session.KeyPair.info(fields=[key for _, key in FIELDS])
    if info is None:
        print_fail("The server returned no keypair for your credentials.")
        raise SystemExit(1)
    rows: list[tuple[str, Any]] = []
    for label, key in FIELDS:
        if key.startswith("user_info "):
            rows.append((label, _full_name(info.get("user_info"))))
        else:
            rows.append((label, info.get(key)))
    click.echo(tabulate(rows, headers=("Field", "Value")))


@click.group(invoke_without_command=True)
@click.option(
    "-u", "--user-id", default=None, help="Only the keypairs of this user (email). [default: all]"
)
@click.option(
    "--is-active", type=bool, default=None, help="Only active (true) or inactive keypairs."
)
@click.option("--filter", "filter_", default=None, help="A filter expression for the query.")
@click.option("--order", default=None, help="An ordering expression for the query.")
@click.pass_context
def keypairs(
    ctx: click.Context,
    user_id: str | None,
    is_active: bool | None,
    filter_: str | None,
    order: str | None,
) -> None:
    """List keypairs. Listing keypairs other than your own needs an admin's privilege.

    (admin privilege required)
    """
    if ctx.invoked_subcommand is not None:
        return

    def flatten(item: dict[str, Any]) -> None:
        item["user_info"] = _full_name(item.get("user_info"))

    with cli_session() as session:
        items = session.KeyPair.paginated_list(
            is_active,
            fields=[key for _, key in FIELDS],
            page_size=preferred_page_size(),
            filter=filter_,
            order=order,
            email=user_id,
        )
        if not echo_via_pager(tabulate_items(items, FIELDS, item_formatter=flatten)):
            click.echo("There are no matching keypairs.")
