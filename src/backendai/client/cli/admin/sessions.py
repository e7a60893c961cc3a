"""``admin sessions`` (and ``ps``), ``admin session`` (and ``info``)."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

from backendai.client.func.compute_session import (
    ACTIVE_STATUSES,
    DEAD_STATUSES,
    DETAIL_FIELDS,
    RUNNING_STATUSES,
)

from ..connection import cli_session
from ..pagination import echo_via_pager, preferred_page_size, tabulate_items
from ..pretty import print_fail

# -f/--format key -> (header, GraphQL field)
FIELD_NAMES: dict[str, tuple[str, str]] = {
    "name": ("Session Name", "name"),
    "type": ("Type", "type"),
    "kernel_id": ("Kernel/Task ID", "id"),
    "session_id": ("Session ID", "session_id"),
    "id": ("Session ID", "session_id"),  # seed 001's name for it
    "task_id": ("Task ID", "task_id"),  # a batch session's, for task-logs
    "status": ("Status", "status"),
    "status_info": ("Status Info", "status_info"),
    "status_data": ("Status Data", "status_data"),
    "created_at": ("Created At", "created_at"),
    "terminated_at": ("Terminated At", "terminated_at"),
    "last_updated": ("Last updated", "status_changed"),
    "result": ("Result", "result"),
    "group": ("Project/Group", "group_name"),
    "owner": ("Owner", "access_key"),
    "image": ("Image", "image"),
    "tag": ("Tag", "tag"),
    "occupied_slots": ("Occupied Resource", "occupied_slots"),
    "cluster_hostname": ("Hostname", "cluster_hostname"),
}
DEFAULT_COLUMNS = (
    "session_id", "group", "kernel_id", "image", "type", "status", "status_info",
    "last_updated", "result",
)  # fmt: skip
DETAIL_COLUMNS = ("tag", "created_at", "occupied_slots")
STATUS_CHOICES = [
    "PENDING", "SCHEDULED", "PREPARING", "BUILDING", "RUNNING", "RESTARTING", "RESIZING",
    "SUSPENDED", "TERMINATING", "TERMINATED", "ERROR", "CANCELLED", "ALL",
]  # fmt: skip
DETAIL_LABELS = [
    "Session Name", "Session ID", "Kernel/Task ID", "Image", "Tag", "Created At",
    "Terminated At", "Status", "Status Info", "Status Data", "Occupied Resource",
    "Containers", "Dependencies",
]  # fmt: skip

F = TypeVar("F", bound=Callable[..., Any])


def list_options(*, with_access_key: bool) -> Callable[[F], F]:
    """The options of ``admin sessions`` (``ps`` has all but --access-key)."""

    def decorate(fn: F) -> F:
        options = [
            click.option(
                "-s",
                "--status",
                type=click.Choice(STATUS_CHOICES),
                default=None,
                help="Only sessions in this status (ALL: any status).",
            )
        ]
        if with_access_key:
            options.append(
                click.option(
                    "--access-key",
                    default=None,
                    help="Sessions of this access key instead of yours (superadmins only).",
                )
            )
        options += [
            click.option("--name-only", is_flag=True, help="Print only the session names."),
            click.option(
                "--dead",
                is_flag=True,
                help="Only terminated or cancelled sessions (overrides -s and --running).",
            ),
            click.option(
                "--running",
                is_flag=True,
                help="Only preparing and running sessions (overrides -s).",
            ),
            click.option("--detail", is_flag=True, help="Add more columns."),
            click.option(
                "-f",
                "--format",
                "format_",
                default=None,
                help="Comma-separated columns to show, e.g. name,status,occupied_slots.",
            ),
            click.option("--filter", "filter_", default=None, help="A query filter expression."),
            click.option("--order", default=None, help="A query ordering expression."),
            click.option("--plain", is_flag=True, help="Print the table without header or rules."),
        ]
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def status_filter(status: str | None, *, running: bool, dead: bool) -> str:
    """The comma-separated status set to query (--dead beats --running beats -s)."""
    if dead:
        return ",".join(DEAD_STATUSES)
    if running:
        return ",".join(RUNNING_STATUSES)
    if status is None:
        return ",".join(ACTIVE_STATUSES)
    if status == "ALL":
        return ",".join(ACTIVE_STATUSES + DEAD_STATUSES)
    return status


def list_sessions(
    *,
    status: str | None,
    access_key: str | None,
    name_only: bool,
    dead: bool,
    running: bool,
    detail: bool,
    format_: str | None,
    filter_: str | None,
    order: str | None,
    plain: bool,
) -> None:
    with cli_session() as session:
        me = session.KeyPair.info(fields=["access_key", "secret_key", "is_active", "is_admin"])
        is_admin = bool(me and me.get("is_admin"))
        columns = ["name", *(["owner"] if is_admin else [])]
        if name_only:
            pass
        elif format_ is not None:
            columns = [key.strip() for key in format_.split(",")]
            for key in columns:
                if key not in FIELD_NAMES:
                    print_fail(f"There is no such format option: {key}")
                    sys.exit(1)
        else:
            columns += [*DEFAULT_COLUMNS, *(DETAIL_COLUMNS if detail else ())]
        fields = [FIELD_NAMES[key] for key in columns]
        items = session.ComputeSession.paginated_list(
            status_filter(status, running=running, dead=dead),
            access_key,
            fields=[gql for _, gql in fields],
            page_size=preferred_page_size(),
            filter=filter_,
            order=order,
        )
        if name_only:
            printed = echo_via_pager(f"{item.get('name')}\n" for item in items)
        else:
            printed = echo_via_pager(tabulate_items(items, fields, plain=plain))
        if not printed:
            click.echo("There are no matching sessions.")


@click.command()
@list_options(with_access_key=True)
def sessions(
    status: str | None,
    access_key: str | None,
    name_only: bool,
    dead: bool,
    running: bool,
    detail: bool,
    format_: str | None,
    filter_: str | None,
    order: str | None,
    plain: bool,
) -> None:
    """List compute sessions (without options: those not yet terminated)."""
    list_sessions(
        status=status, access_key=access_key, name_only=name_only, dead=dead, running=running,
        detail=detail, format_=format_, filter_=filter_, order=order, plain=plain,
    )  # fmt: skip


def format_stats(raw: Any, indent: str = "") -> str:
    """A ``live_stat``/``last_stat`` JSON string as indented ``- metric: value`` lines."""
    stats = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(stats, dict):
        return "(unavailable)"
    text = "\n".join(f"- {k + ': ':18s}{v}" for k, v in stats.items())
    return "\n" + textwrap.indent(text, indent)


def _multiline(value: Any, indent_length: int) -> str:
    lines = str(value).strip().splitlines() or [""]
    return "\n".join([lines[0], *((" " * indent_length) + line for line in lines[1:])])


def format_containers(containers: Sequence[Mapping[str, Any]], indent: str = "") -> str:
    if not containers:
        text = "- (There are no sub-containers belonging to the session)"
    else:
        text = ""
        for c in containers:
            lines = [f"+ {c.get('id')}"]
            lines += [
                f"  - {k + ': ':18s}{_multiline(v, 22)}"
                for k, v in c.items()
                if k not in ("id", "live_stat", "last_stat")
            ]
            lines.append(f"  + live_stat: {format_stats(c.get('live_stat'), indent='    ')}")
            lines.append(f"  + last_stat: {format_stats(c.get('last_stat'), indent='    ')}")
            text += "\n".join(lines) + "\n"
    return "\n" + textwrap.indent(text, indent)


def format_dependencies(dependencies: Sequence[Mapping[str, Any]], indent: str = "") -> str:
    if not dependencies:
        text = "- (There are no dependency tasks)"
    else:
        text = "\n".join(
            "\n".join(
                [
                    f"+ {d.get('name')} ({d.get('id')})",
                    *(f"  - {k + ': ':18s}{v}" for k, v in d.items() if k not in ("name", "id")),
                ]
            )
            for d in dependencies
        )
    return "\n" + textwrap.indent(text, indent)


def _format_value(key: str, value: Any) -> str:
    if key == "containers":
        return format_containers(value if isinstance(value, list) else [], indent="  ")
    if key == "dependencies":
        return format_dependencies(value if isinstance(value, list) else [], indent="  ")
    return str(value)


def show_session(session_id: str) -> None:
    with cli_session() as session:
        try:
            uuid.UUID(session_id)
        except ValueError:
            print_fail("In API v5 or later, the session ID must be given in the UUID format.")
            sys.exit(1)
        info = session.ComputeSession.detail(session_id)
    if info is None:
        print_fail("There is no such compute session.")
        sys.exit(1)
    keys = [field.split(" ", 1)[0] for field in DETAIL_FIELDS]
    labels = dict(zip(keys, DETAIL_LABELS, strict=True))
    for key, value in info.items():
        label = labels.get(key, key)
        click.echo(f"{label + ': ':20s}{_format_value(key, value)}")


@click.command()
@click.argument("session_id", metavar="SESSID")
def session(session_id: str) -> None:
    """Show the details of a compute session, running or not."""
    show_session(session_id)


@click.command()
@click.argument("session_id", metavar="SESSID")
def info(session_id: str) -> None:
    """Show the details of a compute session (the same as "admin session SESSID").

    SESSID: the session's ID (a UUID).
    """
    show_session(session_id)
