"""``admin agent`` and ``admin agents``."""

from __future__ import annotations

import json
from typing import Any

import click

from ..connection import cli_session
from ..pagination import echo_via_pager, preferred_page_size, tabulate_items
from ..pretty import print_fail

LIST_FIELDS = [
    ("ID", "id"),
    ("Status", "status"),
    ("Scaling Group", "scaling_group"),
    ("Region", "region"),
    ("First Contact", "first_contact"),
    ("CPU Usage (%)", "cpu_cur_pct"),
    ("Used Memory (MiB)", "mem_cur_bytes"),
    ("Total slots", "available_slots"),
    ("Occupied slots", "occupied_slots"),
]
DETAIL_FIELDS = [
    ("ID", "id"),
    ("Status", "status"),
    ("Region", "region"),
    ("Scaling Group", "scaling_group"),
    ("Schedulable?", "schedulable"),
    ("Address", "addr"),
    ("First Contact", "first_contact"),
    ("CPU Usage (%)", "cpu_cur_pct"),
    ("Total slots", "available_slots"),
    ("Occupied slots", "occupied_slots"),
    ("Containers", "compute_containers"),
    ("Images", "images"),
]


def _mib(item: dict[str, Any]) -> None:
    if item.get("mem_cur_bytes") is not None:
        item["mem_cur_bytes"] = round(int(item["mem_cur_bytes"]) / 2**20, 1)


def _slots(value: Any) -> str:
    """``{"cpu": "4", "mem": "8589934592"}`` as ``cpu 4, mem 8.00 GiB``."""
    from ..formatting import natural_size

    try:
        slots = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    if not isinstance(slots, dict):
        return str(value)
    parts = []
    for name, amount in slots.items():
        shown = natural_size(amount) if name == "mem" or name.endswith(".mem") else amount
        parts.append(f"{name} {shown}")
    return ", ".join(parts)


@click.command()
@click.argument("agent_id")
def agent(agent_id: str) -> None:
    """Show the information about the given agent."""
    from tabulate import tabulate

    with cli_session() as session:
        info = session.Agent.detail(agent_id, fields=[key for _, key in DETAIL_FIELDS])
    if info is None:
        print_fail(f"There is no agent {agent_id}.")
        raise SystemExit(1)
    rows: list[tuple[str, Any]] = []
    for label, key in DETAIL_FIELDS:
        value = info.get(key)
        if key in ("available_slots", "occupied_slots"):
            value = _slots(value)
        elif key == "images":
            value = "\n".join(value or [])
        rows.append((label, value))
    click.echo(tabulate(rows, headers=("Field", "Value")))


@click.command()
@click.option("-s", "--status", default="ALIVE", help="Filter agents by the given status.")
@click.option(
    "--scaling-group", "--sgroup", default=None, help="Filter agents by the scaling group."
)
@click.option("--filter", "filter_", default=None, help="Set the query filter expression.")
@click.option("--order", default=None, help="Set the query ordering expression.")
def agents(status: str, scaling_group: str | None, filter_: str | None, order: str | None) -> None:
    """List and manage agents. (super-admin privilege required)"""
    with cli_session() as session:
        items = session.Agent.paginated_list(
            status,
            scaling_group,
            fields=[key for _, key in LIST_FIELDS],
            page_size=preferred_page_size(),
            filter=filter_,
            order=order,
        )
        if not echo_via_pager(tabulate_items(items, LIST_FIELDS, item_formatter=_mib)):
            click.echo("There are no matching agents.")
