"""``admin resources``: resource slots, vfolder types, Docker registries, recalculating usage,
and usage statistics per month or period."""

from __future__ import annotations

from typing import Any

import click

from ..connection import cli_session
from ..pretty import print_done


@click.group()
def resources() -> None:
    """Manage resources. (admin privilege required)"""


@resources.command()
def resource_slots() -> None:
    """Get available resource slots."""
    with cli_session() as session:
        slots = session.Resource.get_resource_slots()
    for name, unit in slots.items():
        click.echo(f"{name} ({unit})")


@resources.command()
def vfolder_types() -> None:
    """Get available vfolder types."""
    with cli_session() as session:
        types = session.Resource.get_vfolder_types()
    for t in types:
        click.echo(t)


@resources.command()
def docker_registries() -> None:
    """Get registered docker registries."""
    with cli_session() as session:
        registries = session.Resource.get_docker_registries()
    for name in registries:
        click.echo(name)


@resources.command()
def recalculate_usage() -> None:
    """Re-calculate resource occupation by sessions.

    Sometime, reported allocated resources is deviated from the actual value.
    By executing this command, the discrepancy will be corrected with real value.
    """
    with cli_session() as session:
        session.Resource.recalculate_usage()
    print_done("Resource allocation is re-calculated.")


def _print_group(item: dict[str, Any]) -> None:
    echo = click.echo
    echo(f"Group: {item['g_name']} ({item['g_id']})")
    echo(f"  Domain: {item['domain_name']}")
    echo(f"  Total Allocated: {item['g_smp']} core(s) / {item['g_mem_allocated']} mem (bytes)")
    echo(f"  Total CPU / Memory Used: {item['g_cpu_used']} (s) / {item['g_mem_used']} (bytes)")
    echo(f"  Total I/O Read / Write: {item['g_io_read']} / {item['g_io_write']} (bytes)")
    echo(f"  GPU Devices: {item['g_device_type']}")
    echo(f"  Containers ({len(item['c_infos'])}):")
    for c in item["c_infos"]:
        echo(f"    Identity: {c['name']} / {c['access_key']}")
        echo(f"    Image: {c['image_name']}")
        echo(f"    Duration: {c['used_days']} day(s) ({c['created_at']} ~ {c['terminated_at']})")
        echo(f"    Allocated: {c['smp']} core(s) / {c['mem_allocated']} mem (bytes)")
        echo(f"    CPU / Memory Used: {c['cpu_used']} (s) / {c['mem_used']} (bytes)")
        echo(f"    I/O Read / Write: {c['io_read']} / {c['io_write']} (bytes)")
        echo(f"    NFS mounted: {c['nfs']}")
        echo(f"    GPU Device: {c['device_type']}")
        echo("    ----------------------------------------")
    echo()


@resources.command()
@click.argument("month", metavar="MONTH")
@click.argument("groups", metavar="GROUP_IDS", nargs=-1)
def usage_per_month(month: str, groups: tuple[str, ...]) -> None:
    """Get session usage stats of target groups for specific month.

    \b
    MONTH: Target month to get usage (yyyymm).
    GROUP_IDS: IDs of target groups to get usage (UUID).
    """
    with cli_session() as session:
        items = session.Resource.usage_per_month(month, list(groups))
    if not items:
        click.echo("No usage information during the month.")
    for item in items:
        _print_group(item)


@resources.command()
@click.argument("group")
@click.argument("start_date")
@click.argument("end_date")
def usage_per_period(group: str, start_date: str, end_date: str) -> None:
    """Get session usage stats of a group between two dates (yyyymmdd, both included)."""
    with cli_session() as session:
        item = session.Resource.usage_per_period(group, start_date, end_date)
    if isinstance(item, dict) and "g_id" in item:
        _print_group(item)
    else:
        click.echo("No usage information during the period.")
