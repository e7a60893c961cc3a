"""``admin storage`` and ``admin storage-list``."""

from __future__ import annotations

import json
from typing import Any

import click

from ..connection import cli_session
from ..pagination import echo_via_pager, preferred_page_size, tabulate_items
from ..pretty import print_fail

LIST_FIELDS = [("ID", "id"), ("Backend", "backend"), ("Capabilities", "capabilities")]
DETAIL_FIELDS = [
    ("ID", "id"),
    ("Backend", "backend"),
    ("Capabilities", "capabilities"),
    ("Path", "path"),
    ("FS prefix", "fsprefix"),
    ("Hardware Metadata", "hardware_metadata"),
    ("Perf. Metric", "performance_metric"),
]


def _nested(value: Any) -> str:
    try:
        data = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    if not isinstance(data, dict):
        return str(data)
    return "\n".join(f"{k}: {v}" for k, v in data.items())


def _joined(item: dict[str, Any]) -> None:
    if isinstance(item.get("capabilities"), list):
        item["capabilities"] = ", ".join(item["capabilities"])


@click.command()
@click.argument("vfolder_host")
def storage(vfolder_host: str) -> None:
    """Show the information about the given storage volume. (super-admin privilege required)"""
    from tabulate import tabulate

    with cli_session() as session:
        info = session.Storage.detail(vfolder_host, fields=[key for _, key in DETAIL_FIELDS])
    if info is None:
        print_fail(f"There is no storage volume {vfolder_host}.")
        raise SystemExit(1)
    _joined(info)
    rows = []
    for label, key in DETAIL_FIELDS:
        value = info.get(key)
        rows.append((label, _nested(value) if key.endswith(("metadata", "metric")) else value))
    click.echo(tabulate(rows, headers=("Field", "Value")))


@click.command()
@click.option("--filter", "filter_", default=None, help="Set the query filter expression.")
@click.option("--order", default=None, help="Set the query ordering expression.")
def storage_list(filter_: str | None, order: str | None) -> None:
    """List storage volumes. (super-admin privilege required)"""
    with cli_session() as session:
        items = session.Storage.paginated_list(
            fields=[key for _, key in LIST_FIELDS],
            page_size=preferred_page_size(),
            filter=filter_,
            order=order,
        )
        if not echo_via_pager(tabulate_items(items, LIST_FIELDS, item_formatter=_joined)):
            click.echo("There are no storage volumes.")
