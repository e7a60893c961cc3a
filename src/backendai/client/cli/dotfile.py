"""``dotfile create/list/get/update/delete``: files placed into every new session's home.

Without options they are your own (user) dotfiles; ``-o`` names another keypair's (admins),
``-g`` a group's (with ``-d`` when the group is given by name), ``-d`` alone a domain's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .connection import cli_session
from .pretty import print_info, sure_or_abort

F = TypeVar("F", bound=Callable[..., Any])

PERM_HELP = (
    "Linux permission represented in octal number (e.g. 755) Defaults to 755 if not specified"
)
FILE_HELP = "Path to dotfile to upload. If not specified, client will try to read file from STDIN. "


def scope_options(fn: F) -> F:
    fn = click.option(
        "-g", "--group", metavar="GROUP",
        help="Sepcify the group name or id of group dotfiles. "
        "(If group name is provided, domain name must be specified with option -d)",
    )(fn)  # fmt: skip
    fn = click.option(
        "-d", "--domain", "domain", metavar="DOMAIN",
        help="Specify the domain name of domain dotfiles.",
    )(fn)  # fmt: skip
    fn = click.option(
        "-o", "--owner", "--owner-access-key", "owner_access_key", metavar="ACCESS_KEY",
        help="Specify the owner of the target session of user dotfiles.",
    )(fn)  # fmt: skip
    return fn


def _content(dotfile_path: str | None) -> str:
    if dotfile_path:
        with open(dotfile_path, encoding="utf-8") as f:
            return f.read()
    return sys.stdin.read()


@click.group()
def dotfile() -> None:
    """Provides dotfile operations."""


@dotfile.command()
@click.argument("path", metavar="PATH")
@click.option("--perm", "permission", help=PERM_HELP)
@click.option("-f", "--file", "dotfile_path", help=FILE_HELP)
@scope_options
def create(
    path: str,
    permission: str | None,
    dotfile_path: str | None,
    owner_access_key: str | None,
    domain: str | None,
    group: str | None,
) -> None:
    """Store dotfile to Backend.AI Manager. Dotfiles will be automatically loaded when
    creating kernels.

    PATH: Where dotfiles will be created when starting kernel
    """
    body = _content(dotfile_path)
    with cli_session() as session:
        session.Dotfile.create(
            body, path, permission or "755",
            owner_access_key=owner_access_key, domain=domain, group=group,
        )  # fmt: skip
    print_info(f"Dotfile {path} created and ready")


@dotfile.command()
@click.argument("path", metavar="PATH")
@scope_options
def get(path: str, owner_access_key: str | None, domain: str | None, group: str | None) -> None:
    """Print dotfile content."""
    with cli_session() as session:
        item = session.Dotfile.get(
            path, owner_access_key=owner_access_key, domain=domain, group=group
        )
    click.echo(item.get("data", ""))


@dotfile.command(name="list")
@scope_options
def list_(owner_access_key: str | None, domain: str | None, group: str | None) -> None:
    """List availabe user/domain/group dotfiles."""
    from tabulate import tabulate

    with cli_session() as session:
        items = session.Dotfile.list(owner_access_key=owner_access_key, domain=domain, group=group)
    if not items:
        click.echo("There is no dotfiles created yet.")
        return
    rows = [
        (item["path"], (item["data"][:30].splitlines() or [""])[0], item["permission"])
        for item in items
    ]
    click.echo(tabulate(rows, headers=("Path", "Data", "Permission")))


@dotfile.command()
@click.argument("path", metavar="PATH")
@click.option("--perm", "permission", help=PERM_HELP)
@click.option("-f", "--file", "dotfile_path", help=FILE_HELP)
@scope_options
def update(
    path: str,
    permission: str | None,
    dotfile_path: str | None,
    owner_access_key: str | None,
    domain: str | None,
    group: str | None,
) -> None:
    """Update dotfile stored in Backend.AI Manager."""
    body = _content(dotfile_path)
    with cli_session() as session:
        session.Dotfile.update(
            path, body, permission or "755",
            owner_access_key=owner_access_key, domain=domain, group=group,
        )  # fmt: skip
    print_info(f"Dotfile {path} updated")


@dotfile.command()
@click.argument("path", metavar="PATH")
@click.option("-f", "--force", is_flag=True, help="Delete dotfile without confirmation.")
@scope_options
def delete(
    path: str, force: bool, owner_access_key: str | None, domain: str | None, group: str | None
) -> None:
    """Delete dotfile from Backend.AI Manager."""
    if not force and not sure_or_abort():
        return
    with cli_session() as session:
        session.Dotfile.delete(path, owner_access_key=owner_access_key, domain=domain, group=group)
    print_info(f"Dotfile {path} deleted")
