"""``backend.ai start``, ``terminate`` (also ``rm`` and ``kill``) and ``restart``.

Each exits 1 when the server refused the request or a session could not be used: ``start``
when the session ended (ERROR, CANCELLED) instead of starting, with the reason the server
gave (e.g. the output of a failed bootstrap script).
"""

from __future__ import annotations

import secrets
import sys
from typing import IO

import click

from backendai.client.exceptions import BackendAPIError, BackendError

from .connection import cli_session
from .formatting import format_stats
from .pretty import (
    describe_end,
    print_done,
    print_error,
    print_fail,
    print_info,
    print_wait,
    print_warn,
    report_unready_session,
)
from .session_options import (
    env_option,
    extra_options,
    name_option,
    parse_mounts,
    parse_pairs,
    parse_ports,
    resource_options,
    scheduling_options,
)

_FAILED = ("ERROR", "CANCELLED")
OWNER_HINT = 'If you are an admin, use "-o" / "--owner" option to terminate other user\'s session.'


@click.command()
@click.argument("image")
@name_option
@click.option(
    "-o",
    "--owner",
    "--owner-access-key",
    "owner",
    metavar="ACCESS_KEY",
    default=None,
    help="Create the session for this access key (admins only).",
)
@scheduling_options(with_startup_command=True)
@click.option(
    "--count",
    metavar="N",
    type=click.IntRange(1, 100),
    default=1,
    help="Create N identical sessions, NAME-1 to NAME-N, each queued on its own "
    "(all or none); returns once they are queued.",
)
@env_option
@extra_options
@resource_options
def start(
    image: str,
    name: str | None,
    owner: str | None,
    type_: str,
    starts_at: str | None,
    startup_command: str | None,
    enqueue_only: bool,
    max_wait: int,
    no_reuse: bool,
    count: int,
    env: tuple[str, ...],
    bootstrap_script: IO[str] | None,
    tag: str | None,
    mount: tuple[str, ...],
    scaling_group: str | None,
    resources: tuple[str, ...],
    cluster_size: int,
    cluster_mode: str,
    resource_opts: tuple[str, ...],
    domain: str | None,
    group: str | None,
    preopen: str | None,
) -> None:
    """Start a compute session without running code in it.

    Run code in it later with "run -t NAME", or use its services with "app".

    \b
    IMAGE: the session's image (name[:tag]), e.g. python:3.9-ubuntu20.04.
    """
    mounts, mount_map = parse_mounts(mount)
    with cli_session() as session:
        cs = session.ComputeSession.get_or_create(
            image,
            name=name if name is not None else f"pysdk-{secrets.token_hex(5)}",
            type_=type_,
            starts_at=starts_at,
            enqueue_only=enqueue_only,
            max_wait=max_wait,
            no_reuse=no_reuse,
            cluster_size=cluster_size,
            cluster_mode=cluster_mode,
            mounts=mounts,
            mount_map=mount_map,
            envs=parse_pairs(env, "-e/--env"),
            startup_command=startup_command,
            resources=parse_pairs(resources, "-r/--resources"),
            resource_opts=parse_pairs(resource_opts, "--resource-opts"),
            owner_access_key=owner,
            domain_name=domain,
            group_name=group,
            scaling_group=scaling_group,
            bootstrap_script=bootstrap_script.read() if bootstrap_script else None,
            tag=tag,
            preopen_ports=parse_ports(preopen),
            count=count,
        )
    if count > 1:
        for one in cs.batch:
            print_info(f"Session {one.name} (ID {one.id}) is {one.status}.")
        if any(one.status in _FAILED for one in cs.batch):
            sys.exit(1)
        return
    sid = cs.id
    if type_ == "batch" and cs.status == "TERMINATED":
        # A quick task may end before the server answers: that is a batch session's success.
        print_info(f"Session ID {sid} has already run its task.")
    elif cs.status == "RUNNING":
        state = "created and ready" if cs.created else "already running and ready"
        print_info(f"Session ID {sid} is {state}.")
        if cs.service_ports:
            names = ", ".join(str(port.get("name")) for port in cs.service_ports)
            print_info(f"This session provides the following app services: {names}")
    elif not report_unready_session(sid, cs.status):
        print_info(f"Session ID {sid} is {cs.status}.")
    if cs.status in _FAILED or (cs.status == "TERMINATED" and type_ != "batch"):
        why = describe_end(cs.status_info, cs.status_data)
        if why:
            print_fail(why)
        sys.exit(1)
    if type_ == "batch":
        print_info(f'Follow its output with "backend.ai task-logs {sid}".')


@click.command()
@click.argument("session_names", metavar="SESSID", nargs=-1)
@click.option(
    "-f", "--forced", is_flag=True, help="Terminate even sessions in error (admins only)."
)
@click.option(
    "-o",
    "--owner",
    "--owner-access-key",
    "owner",
    metavar="ACCESS_KEY",
    default=None,
    help="The sessions belong to this access key (admins only).",
)
@click.option("-s", "--stats", is_flag=True, help="Show the resource usage of each session.")
def terminate(session_names: tuple[str, ...], forced: bool, owner: str | None, stats: bool) -> None:
    """Terminate compute sessions (a pending one is cancelled).

    SESSID: a session's name or ID; several may be given.
    """
    if not session_names:
        print_warn('Specify at least one session ID. Check usage with "-h" option.')
        sys.exit(1)
    print_wait("Terminating the session(s)...")
    failed = False
    results = []
    with cli_session() as session:
        for session_name in session_names:
            try:
                results.append(session.ComputeSession(session_name, owner).destroy(forced=forced))
            except BackendError as e:
                print_error(e)
                if isinstance(e, BackendAPIError) and e.status == 404:
                    print_info(OWNER_HINT)
                failed = True
    if not failed:
        print_done("Done.")
    if stats:
        for answer in results:
            data = answer.get("stats") if answer else None
            click.echo(format_stats(data) if data else "Statistics is not available.")
    if failed:
        sys.exit(1)


@click.command()
@click.argument("session_names", metavar="SESSION_NAME", nargs=-1)
def restart(session_names: tuple[str, ...]) -> None:
    """Restart compute sessions, keeping the files in their working directories.

    SESSION_NAME: a session's name or ID; several may be given.
    """
    if not session_names:
        print_warn('Specify at least one session ID. Check usage with "-h" option.')
        sys.exit(1)
    print_wait("Restarting the session(s)...")
    failed = False
    with cli_session() as session:
        for session_name in session_names:
            try:
                session.ComputeSession(session_name).restart()
            except BackendError as e:
                print_error(e)
                if isinstance(e, BackendAPIError) and e.status == 404:
                    print_info(OWNER_HINT)
                failed = True
    if failed:
        sys.exit(1)
    print_done("Done.")
