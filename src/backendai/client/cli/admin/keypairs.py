"""``admin keypair`` and ``admin keypairs``."""

from __future__ import annotations

from typing import Any

import click

from ..connection import cli_session
from ..pagination import echo_via_pager, preferred_page_size, tabulate_items
from ..pretty import print_done, print_fail
from .mutating import check_ok, failing_as

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
    """List and manage keypairs. To show all keypairs or other user's, your access key must
    have the admin privilege. (admin privilege required)"""
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


@keypairs.command()
@click.argument("user_id", metavar="USERID")
@click.argument("resource_policy", metavar="RESOURCE_POLICY")
@click.option("-a", "--admin", is_flag=True, help="Give the admin privilege to the new keypair.")
@click.option("-i", "--inactive", is_flag=True, help="Create the new keypair in inactive state.")
@click.option("-r", "--rate-limit", type=int, default=5000, help="Set the API query rate limit.")
def add(user_id: str, resource_policy: str, admin: bool, inactive: bool, rate_limit: int) -> None:
    """Add a new keypair.

    USER_ID: User ID of a new key pair. RESOURCE_POLICY: resource policy for new key pair.
    """
    with cli_session() as session, failing_as("KeyPair creation"):
        answer = session.KeyPair.create(
            user_id, is_active=not inactive, is_admin=admin, resource_policy=resource_policy,
            rate_limit=rate_limit,
        )  # fmt: skip
    check_ok(answer, "KeyPair creation")
    item = answer.get("keypair") or {}
    click.echo(f"Access Key: {item.get('access_key')}")
    click.echo(f"Secret Key: {item.get('secret_key')}")


@keypairs.command()
@click.argument("access_key", metavar="ACCESSKEY")
@click.option("--resource-policy", default=None, help="Resource policy for the keypair.")
@click.option("--is-admin", type=bool, default=None, help="Set admin privilege.")
@click.option("--is-active", type=bool, default=None, help="Set key pair active or not.")
@click.option("-r", "--rate-limit", type=int, default=None, help="Set the API query rate limit.")
def update(
    access_key: str,
    resource_policy: str | None,
    is_admin: bool | None,
    is_active: bool | None,
    rate_limit: int | None,
) -> None:
    """Update an existing keypair.

    ACCESS_KEY: Access key of an existing key pair.
    """
    with cli_session() as session, failing_as("KeyPair update"):
        answer = session.KeyPair.update(
            access_key, is_active=is_active, is_admin=is_admin,
            resource_policy=resource_policy, rate_limit=rate_limit,
        )  # fmt: skip
    check_ok(answer, "KeyPair update")
    print_done(f"Key pair is updated: {access_key}.")


@keypairs.command()
@click.argument("access_key", metavar="ACCESSKEY")
def delete(access_key: str) -> None:
    """Delete an existing keypair.

    ACCESSKEY: ACCESSKEY for a keypair to delete.
    """
    with cli_session() as session, failing_as("KeyPair deletion"):
        answer = session.KeyPair.delete(access_key)
    check_ok(answer, "KeyPair deletion")
    print_done(f"Key pair is deleted: {access_key}.")


@keypairs.command()
@click.argument("access_key", metavar="ACCESSKEY")
def activate(access_key: str) -> None:
    """Activate an inactivated keypair.

    ACCESS_KEY: Access key of an existing key pair.
    """
    with cli_session() as session, failing_as("KeyPair activation"):
        answer = session.KeyPair.activate(access_key)
    check_ok(answer, "KeyPair activation")
    print_done(f"Key pair is activated: {access_key}.")


@keypairs.command()
@click.argument("access_key", metavar="ACCESSKEY")
def deactivate(access_key: str) -> None:
    """Deactivate an active keypair.

    ACCESS_KEY: Access key of an existing key pair.
    """
    with cli_session() as session, failing_as("KeyPair deactivation"):
        answer = session.KeyPair.deactivate(access_key)
    check_ok(answer, "KeyPair deactivation")
    print_done(f"Key pair is deactivated: {access_key}.")
