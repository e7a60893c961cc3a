"""``admin keypair-resource-policy`` and ``admin keypair-resource-policies`` (add, update,
delete)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..connection import cli_session
from ..pretty import print_done, print_warn
from .mutating import check_ok, confirmed, failing_as

F = TypeVar("F", bound=Callable[..., Any])

FIELDS = [
    ("Name", "name"),
    ("Created At", "created_at"),
    ("Default for Unspecified", "default_for_unspecified"),
    ("Total Resource Slot", "total_resource_slots"),
    ("Max Concurrent Sessions", "max_concurrent_sessions"),
    ("Max Containers per Session", "max_containers_per_session"),
    ("Max vFolder Count", "max_vfolder_count"),
    ("Max vFolder Size", "max_vfolder_size"),
    ("Idle Timeout", "idle_timeout"),
    ("Allowed vFolder Hosts", "allowed_vfolder_hosts"),
]


@click.command()
@click.option("-n", "--name", default=None, help="Name of the resource policy.")
def keypair_resource_policy(name: str | None) -> None:
    """Show details about a keypair resource policy. When `name` option is omitted, the
    resource policy for the current access_key will be returned."""
    from tabulate import tabulate

    with cli_session() as session:
        info = session.KeypairResourcePolicy.info(name, fields=[key for _, key in FIELDS])
    if info is None:
        print_warn("No such resource policy.")
        raise SystemExit(1)
    click.echo(tabulate([(label, info.get(key)) for label, key in FIELDS], ("Field", "Value")))


@click.group(invoke_without_command=True)
@click.pass_context
def keypair_resource_policies(ctx: click.Context) -> None:
    """List and manage keypair resource policies. (admin privilege required)"""
    if ctx.invoked_subcommand is not None:
        return
    from tabulate import tabulate

    with cli_session() as session:
        items = session.KeypairResourcePolicy.list(fields=[key for _, key in FIELDS])
    if not items:
        print_warn("There are no keypair resource policies.")
        return
    rows = [[item.get(key) for _, key in FIELDS] for item in items]
    click.echo(tabulate(rows, headers=[label for label, _ in FIELDS]))


def _slots(text: str | None) -> Any:
    """The option's JSON text as a JSON object (the official client sends the text itself,
    which the server decodes the same way)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as e:
        raise click.BadParameter(f"not JSON: {e}", param_hint="--total-resource-slots") from e
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--total-resource-slots")
    return text


def _limits(with_defaults: bool) -> Callable[[F], F]:
    def default(value: Any) -> Any:
        return value if with_defaults else None

    def decorate(f: F) -> F:
        options = [
            click.option(
                "--default-for-unspecified", default=default("UNLIMITED"),
                help="Default behavior for unspecified resources: LIMITED, UNLIMITED",
            ),
            click.option(
                "--total-resource-slots", default=default("{}"), help="Set total resource slots."
            ),
            click.option(
                "--max-concurrent-sessions", type=int, default=default(30),
                help="Number of maximum concurrent sessions.",
            ),
            click.option(
                "--max-containers-per-session", type=int, default=default(1),
                help="Number of maximum containers per session.",
            ),
            click.option(
                "--max-vfolder-count", type=int, default=default(10),
                help="Number of maximum virtual folders allowed.",
            ),
            click.option(
                "--max-vfolder-size", type=int, default=default(0),
                help="Maximum virtual folder size (future plan).",
            ),
            click.option(
                "--idle-timeout", type=int, default=default(1800),
                help="The maximum period of time allowed for kernels to wait further requests.",
            ),
            click.option(
                "--allowed-vfolder-hosts", default=default("local"),
                help="Locations to create virtual folders.",
            ),
        ]  # fmt: skip
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


@keypair_resource_policies.command()
@click.argument("name", metavar="NAME")
@_limits(with_defaults=True)
def add(name: str, **limits: Any) -> None:
    """Add a new keypair resource policy.

    NAME: NAME of a new keypair resource policy.
    """
    limits["total_resource_slots"] = _slots(limits["total_resource_slots"])
    what = "KeyPair Resource Policy creation"
    with cli_session() as session, failing_as(what):
        data = session.KeypairResourcePolicy.create(name, **limits)
    check_ok(data, what)
    print_done(f"Keypair resource policy {data['resource_policy']['name']} is created.")


@keypair_resource_policies.command()
@click.argument("name", metavar="NAME")
@_limits(with_defaults=False)
def update(name: str, **limits: Any) -> None:
    """Update an existing keypair resource policy.

    NAME: NAME of a keypair resource policy to update.
    """
    limits["total_resource_slots"] = _slots(limits["total_resource_slots"])
    what = "KeyPair Resource Policy update"
    with cli_session() as session, failing_as(what):
        data = session.KeypairResourcePolicy.update(name, **limits)
    check_ok(data, what)
    print_done("Update succeeded.")


@keypair_resource_policies.command()
@click.argument("name", metavar="NAME")
def delete(name: str) -> None:
    """Delete a keypair resource policy.

    NAME: NAME of a keypair resource policy to delete.
    """
    if not confirmed():
        raise SystemExit(1)
    what = "KeyPair Resource Policy deletion"
    with cli_session() as session, failing_as(what):
        data = session.KeypairResourcePolicy.delete(name)
    check_ok(data, what)
    print_done(f"Resource policy {name} is deleted.")
