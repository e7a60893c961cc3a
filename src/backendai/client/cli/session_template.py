"""``session-template`` (alias ``sesstpl``) ``create/list/get/update/delete``, and
``start-template``: sessions from stored templates (seed 001 "Session Templates").

A template is YAML or JSON text, read from ``-f FILE`` or from stdin. Without ``-g`` it is
yours alone; with ``-g GROUP`` the group's members may list, read and start it too. Every
command exits 1 when the server refuses it, after printing the server's reason.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .connection import cli_session
from .pretty import (
    describe_end,
    print_fail,
    print_info,
    report_unready_session,
    sure_or_abort,
)
from .session_options import env_option, name_option, parse_mounts, parse_pairs

FILE_HELP = "Path to the template file (YAML or JSON); read from stdin when not given."


def _owner_option(fn: Any) -> Any:
    return click.option(
        "-o", "--owner", "--owner-access-key", "owner", metavar="ACCESS_KEY", default=None,
        help="Act on the templates of this access key's user (admins only).",
    )(fn)  # fmt: skip


def _read(path: str | None) -> str:
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except OSError as e:
            print_fail(f"Cannot read the template file {path}: {e.strerror}.")
            sys.exit(1)
    if sys.stdin.isatty():
        print_info("Reading the template from stdin (end with Ctrl-D)...")
    return sys.stdin.read()


@click.group(name="session-template")
def session_template() -> None:
    """Provides task template operations (store, list, show, change, delete)."""


@session_template.command()
@click.option("-f", "--file", "template_path", metavar="FILE", help=FILE_HELP)
@click.option(
    "-d", "--domain", metavar="DOMAIN_NAME", default=None,
    help="The domain of the template's owner (default: the owner's own).",
)  # fmt: skip
@click.option(
    "-g", "--group", metavar="GROUP_NAME", default=None,
    help="Share the template with this group's members; sessions started from it go there "
    "unless start-template says otherwise.",
)  # fmt: skip
@_owner_option
def create(
    template_path: str | None, domain: str | None, group: str | None, owner: str | None
) -> None:
    """Store a task template on the manager and print its ID (use it with start-template)."""
    text = _read(template_path)
    with cli_session() as session:
        template_id = session.SessionTemplate.create(
            text, domain_name=domain, group_name=group, owner_access_key=owner
        )
    print_info(f"Task template {template_id} created and ready")
    click.echo(template_id)


@session_template.command(name="list")
@click.option(
    "-a", "--list-all", is_flag=True,
    help="List every template you may administer, not only yours and your groups' (admins).",
)  # fmt: skip
def list_(list_all: bool) -> None:
    """List the task templates you may use: yours and your groups'."""
    from tabulate import tabulate

    with cli_session() as session:
        items = session.SessionTemplate.list_templates(list_all)
    if not items:
        click.echo("There is no task templates created yet.")
        return
    rows = [
        (item.get("name"), item.get("id"), item.get("created_at"),
         "yes" if item.get("is_owner") else "", item.get("type"),
         item.get("user_email") or item.get("user"), item.get("group_name") or item.get("group"))
        for item in items
    ]  # fmt: skip
    headers = ("Name", "ID", "Created At", "Owner", "Type", "User", "Group")
    click.echo(tabulate(rows, headers=headers))


@session_template.command()
@click.argument("template_id", metavar="TEMPLATEID")
@click.option(
    "-f", "--format", "body_format", type=click.Choice(["yaml", "json"]), default="yaml",
    help="Print the template as yaml (default) or json.",
)  # fmt: skip
@_owner_option
def get(template_id: str, body_format: str, owner: str | None) -> None:
    """Print the task template TEMPLATEID (as stored: one spelling per key)."""
    with cli_session() as session:
        text = session.SessionTemplate.get(template_id, body_format, owner)
    click.echo(text.rstrip("\n"))


@session_template.command()
@click.argument("template_id", metavar="TEMPLATEID")
@click.option("-f", "--file", "template_path", metavar="FILE", help=FILE_HELP)
@_owner_option
def update(template_id: str, template_path: str | None, owner: str | None) -> None:
    """Replace the task template TEMPLATEID with a new version."""
    text = _read(template_path)
    with cli_session() as session:
        session.SessionTemplate.update(template_id, text, owner)
    print_info(f"Task template {template_id} updated")


@session_template.command()
@click.argument("template_id", metavar="TEMPLATEID")
@click.option("-f", "--force", is_flag=True, help="Delete without asking for confirmation.")
@_owner_option
def delete(template_id: str, force: bool, owner: str | None) -> None:
    """Delete the task template TEMPLATEID."""
    if not force and not sure_or_abort():
        return
    with cli_session() as session:
        session.SessionTemplate.delete(template_id, owner)
    print_info(f"Task template {template_id} deleted")


@click.command(name="start-template")
@click.argument("template_id", metavar="TEMPLATE_ID")
@name_option
@click.option(
    "-o", "--owner", "--owner-access-key", "owner", metavar="ACCESS_KEY", default=None,
    help="Create the session for this access key (admins only).",
)  # fmt: skip
@click.option(
    "--type", "type_", metavar="SESSTYPE", type=click.Choice(["batch", "interactive"]),
    default=None, help="batch or interactive (default: the template's).",
)  # fmt: skip
@click.option(
    "--starts-at", "--starts_at", "starts_at", metavar="STARTS_AT", default=None,
    help="Start the (batch) session at this time: ISO-8601, or relative like 1h.",
)  # fmt: skip
@click.option("-i", "--image", default=None, help="Use this image instead of the template's.")
@click.option(
    "-c", "--startup-command", metavar="COMMAND", default=None,
    help="The command a batch session runs (default: the template's).",
)  # fmt: skip
@click.option(
    "--enqueue-only", is_flag=True,
    help="Return as soon as the request is queued, without waiting for the start.",
)  # fmt: skip
@click.option(
    "--max-wait", metavar="SECONDS", type=int, default=None,
    help="Wait at most this long for the session to start (default: no limit).",
)  # fmt: skip
@click.option("--no-reuse", is_flag=True, help="Fail instead of reusing a session of that name.")
@env_option
@click.option("--tag", default=None, help="A free-form tag (default: the template's).")
@click.option(
    "-m", "--mount", "mount", metavar="NAME[=PATH]", multiple=True,
    help="Mount these virtual folders (repeatable) instead of the template's, at "
    "/home/work/NAME or at PATH under /home/work.",
)  # fmt: skip
@click.option("--scaling-group", "--sgroup", default=None, help="Run it in this resource group.")
@click.option(
    "-r", "--resources", "--resource", "resources", metavar="KEY=VAL", multiple=True,
    help="A resource slot (repeatable), e.g. -r cpu=2 -r mem=4g; added to the template's.",
)  # fmt: skip
@click.option("--cluster-size", metavar="NUMBER", type=int, default=None,
              help="The number of containers of the session.")  # fmt: skip
@click.option("--resource-opts", metavar="KEY=VAL", multiple=True,
              help="A resource option (repeatable), e.g. shmem=64m.")  # fmt: skip
@click.option("-d", "--domain", metavar="DOMAIN_NAME", default=None,
              help="The session's domain (default: the template's).")  # fmt: skip
@click.option("-g", "--group", metavar="GROUP_NAME", default=None,
              help="The session's group (default: the template's, else your default).")  # fmt: skip
@click.option("--no-mount", is_flag=True, help="Mount none of the template's folders.")
@click.option("--no-env", is_flag=True, help="Leave out the template's environment variables.")
@click.option("--no-resource", is_flag=True, help="Leave out the template's resources.")
def start_template(
    template_id: str,
    name: str | None,
    owner: str | None,
    type_: str | None,
    starts_at: str | None,
    image: str | None,
    startup_command: str | None,
    enqueue_only: bool,
    max_wait: int | None,
    no_reuse: bool,
    env: tuple[str, ...],
    tag: str | None,
    mount: tuple[str, ...],
    scaling_group: str | None,
    resources: tuple[str, ...],
    cluster_size: int | None,
    resource_opts: tuple[str, ...],
    domain: str | None,
    group: str | None,
    no_mount: bool,
    no_env: bool,
    no_resource: bool,
) -> None:
    """Start a compute session from the task template TEMPLATE_ID.

    The template gives the image, environment, resources, folders and bootstrap (its git
    repository is cloned first); the options here override those values.
    """
    mounts, mount_map = parse_mounts(mount)
    envs = {} if no_env else (parse_pairs(env, "-e/--env") or None)
    slots = {} if no_resource else (parse_pairs(resources, "-r/--resources") or None)
    with cli_session() as session:
        answer = session.SessionTemplate.start(
            template_id, name=name, image=image, type_=type_, starts_at=starts_at,
            startup_command=startup_command, enqueue_only=enqueue_only, max_wait=max_wait,
            no_reuse=no_reuse, envs=envs, mounts=mounts if (mounts or no_mount) else None,
            mount_map=mount_map, resources=slots,
            resource_opts=parse_pairs(resource_opts, "--resource-opts") or None,
            scaling_group=scaling_group, domain_name=domain, group_name=group, tag=tag,
            cluster_size=cluster_size, owner_access_key=owner,
        )  # fmt: skip
    _report(answer)


def _report(answer: dict[str, Any]) -> None:
    label = f"{answer.get('sessionName')} ({answer.get('sessionId')})"
    status = str(answer.get("status", "RUNNING"))
    if status == "RUNNING":
        state = "created and ready" if answer.get("created", True) else "already running"
        print_info(f"Session {label} is {state}.")
        ports = answer.get("servicePorts") or answer.get("service_ports") or []
        if ports:
            names = ", ".join(str(port.get("name")) for port in ports)
            print_info(f"This session provides the following app services: {names}")
        return
    if not report_unready_session(label, status):
        print_info(f"Session {label} is {status}.")
    if status in ("ERROR", "CANCELLED", "TERMINATED"):
        why = describe_end(answer.get("statusInfo"), answer.get("statusData"))
        if why:
            print_fail(why)
        sys.exit(1)
