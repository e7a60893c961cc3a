"""``admin scaling-group``, ``admin scaling-groups`` (add, update, delete, associate and
dissociate with a domain) and ``admin list-scaling-groups``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..connection import cli_session
from ..pretty import print_done, print_warn
from .agents import _slots as format_slots
from .mutating import check_ok, failing_as

F = TypeVar("F", bound=Callable[..., Any])

FIELDS = [
    ("Name", "name"),
    ("Description", "description"),
    ("Active?", "is_active"),
    ("Created At", "created_at"),
    ("Driver", "driver"),
    ("Driver Opts", "driver_opts"),
    ("Scheduler", "scheduler"),
    ("Scheduler Opts", "scheduler_opts"),
]
# Capacity and occupancy: the sums over the group's alive agents (Backend.AI 24.03.7's fields).
COUNT_FIELD = "agent_count_by_status"
SLOTS_FIELD = "agent_total_resource_slots_by_status"
CAPACITY_LABELS = ["Alive Agents", "Capacity", "Occupied"]


def _capacity(item: dict[str, Any]) -> list[Any]:
    """The capacity columns of one group: its alive agents, their slots, what is in use."""
    raw = item.get(SLOTS_FIELD)
    try:
        slots = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        slots = None
    slots = slots if isinstance(slots, dict) else {}
    return [
        item.get(COUNT_FIELD),
        format_slots(slots.get("available_slots") or {}) or "-",
        format_slots(slots.get("occupied_slots") or {}) or "-",
    ]


def _fields() -> list[str]:
    return [key for _, key in FIELDS] + [COUNT_FIELD, SLOTS_FIELD]


@click.command()
@click.argument("group", metavar="GROUP_NAME")
def list_scaling_groups(group: str) -> None:
    """List the scaling groups you may start sessions in for the group (project)."""
    with cli_session() as session:
        resp = session.ScalingGroup.list_available(group)
    names = [g.get("name") for g in (resp or {}).get("scaling_groups", [])]
    if not names:
        print_warn("There is no scaling group available.")
        return
    for name in names:
        click.echo(name)


@click.command("scaling-group")  # named: click drops a "_group" suffix from function names
@click.option("-n", "--name", default=None, help="Name of a scaling group.")
def scaling_group(name: str | None) -> None:
    """Show the information about the given scaling group. (superadmin privilege required)"""
    from tabulate import tabulate

    with cli_session() as session:
        info = session.ScalingGroup.detail(name=name, fields=_fields())
    if info is None:
        print_warn("No such scaling group.")
        raise SystemExit(1)
    rows = [(label, info.get(key)) for label, key in FIELDS]
    rows += list(zip(CAPACITY_LABELS, _capacity(info), strict=True))
    click.echo(tabulate(rows, ("Field", "Value")))


@click.group(invoke_without_command=True)
@click.pass_context
def scaling_groups(ctx: click.Context) -> None:
    """List and manage scaling groups. (superadmin privilege required)"""
    if ctx.invoked_subcommand is not None:
        return
    from tabulate import tabulate

    with cli_session() as session:
        items = session.ScalingGroup.list(fields=_fields())
    if not items:
        click.echo("There is no scaling group.")
        return
    rows = [[item.get(key) for _, key in FIELDS] + _capacity(item) for item in items]
    click.echo(tabulate(rows, headers=[label for label, _ in FIELDS] + CAPACITY_LABELS))


def _opts(text: str, option: str) -> Any:
    try:
        value = json.loads(text) if text else {}
    except ValueError as e:
        raise click.BadParameter(f"not JSON: {e}", param_hint=option) from e
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint=option)
    return value


def _settings(f: F) -> F:
    options = [
        click.option("-d", "--description", default="", help="Description of new scaling group"),
        click.option("-i", "--inactive", is_flag=True, help="New scaling group will be inactive."),
        click.option("--driver", default="static", help="Set driver."),
        click.option("--driver_opts", default="{}", help="Set driver options."),
        click.option("--scheduler", default="fifo", help="Set scheduler."),
        click.option("--scheduler_opts", default="{}", help="Set scheduler options."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _props(
    description: str, inactive: bool, driver: str, driver_opts: str, scheduler: str,
    scheduler_opts: str,
) -> dict[str, Any]:  # fmt: skip
    return {
        "description": description, "is_active": not inactive, "driver": driver,
        "driver_opts": _opts(driver_opts, "--driver_opts"), "scheduler": scheduler,
        "scheduler_opts": _opts(scheduler_opts, "--scheduler_opts"),
    }  # fmt: skip


@scaling_groups.command()
@click.argument("name", metavar="NAME")
@_settings
def add(name: str, **settings: Any) -> None:
    """Add a new scaling group.

    NAME: Name of new scaling group.
    """
    what = "Scaling group creation"
    with cli_session() as session, failing_as(what):
        data = session.ScalingGroup.create(name, **_props(**settings))
    check_ok(data, what)
    print_done(f"Scaling group name {data['scaling_group']['name']} is created.")


@scaling_groups.command()
@click.argument("name", metavar="NAME")
@_settings
def update(name: str, **settings: Any) -> None:
    """Update existing scaling group.

    NAME: Name of new scaling group.
    """
    what = "Scaling group update"
    with cli_session() as session, failing_as(what):
        data = session.ScalingGroup.update(name, **_props(**settings))
    check_ok(data, what)
    print_done(f"Scaling group {name} is updated.")


@scaling_groups.command()
@click.argument("name", metavar="NAME")
def delete(name: str) -> None:
    """Delete an existing scaling group.

    NAME: Name of a scaling group to delete.
    """
    what = "Scaling group deletion"
    with cli_session() as session, failing_as(what):
        data = session.ScalingGroup.delete(name)
    check_ok(data, what)
    print_done(f"Scaling group is deleted: {name}.")


@scaling_groups.command("associate-scaling-group")
@click.argument("scaling_group", metavar="SCALING_GROUP")
@click.argument("domain", metavar="DOMAIN")
def associate_scaling_group(scaling_group: str, domain: str) -> None:
    """Associate a domain with a scaling_group.

    \b
    SCALING_GROUP: The name of a scaling group.
    DOMAIN: The name of a domain.
    """
    what = "Associating scaling group with domain"
    with cli_session() as session, failing_as(what):
        data = session.ScalingGroup.associate_domain(scaling_group, domain)
    check_ok(data, what)
    print_done(f"Scaling group {scaling_group} is associated with domain {domain}.")


@scaling_groups.command("dissociate-scaling-group")
@click.argument("scaling_group", metavar="SCALING_GROUP")
@click.argument("domain", metavar="DOMAIN")
def dissociate_scaling_group(scaling_group: str, domain: str) -> None:
    """Dissociate a domain from a scaling_group.

    \b
    SCALING_GROUP: The name of a scaling group.
    DOMAIN: The name of a domain.
    """
    what = "Dissociating scaling group from domain"
    with cli_session() as session, failing_as(what):
        data = session.ScalingGroup.dissociate_domain(scaling_group, domain)
    check_ok(data, what)
    print_done(f"Scaling group {scaling_group} is dissociated from domain {domain}.")
