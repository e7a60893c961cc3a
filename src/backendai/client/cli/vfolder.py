"""``backend.ai vfolder ...``: virtual folders, their files, and sharing them.

The commands and options are those of Backend.AI's client 20.9.9, plus ``list --trash``,
``restore``, ``purge``, ``mv``, ``share``, ``unshare``, ``mkdir -p`` and ``rm -r``. The file
transfers (``upload``, ``download``, ``cp``) live in :mod:`.vfolder_transfer`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import click

from .connection import cli_session
from .formatting import natural_size
from .pretty import print_done, print_fail, print_wait
from .vfolder_sharing import invitations, invite, leave, share, unshare
from .vfolder_transfer import cp, download, upload

if TYPE_CHECKING:
    from backendai.client.func.binding import SyncMode
    from backendai.client.func.vfolder import VFolder


class AliasedGroup(click.Group):
    """A group whose commands may have other names (``rm`` is also ``delete-file``)."""

    aliases: ClassVar[dict[str, str]] = {"delete-file": "rm"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            others = [alias for alias, target in self.aliases.items() if target == name]
            label = f"{name} ({', '.join(others)})" if others else name
            rows.append((label, command.get_short_help_str(limit=45)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=AliasedGroup)
def vfolder() -> None:
    """Provides virtual folder operations."""


for _command in (upload, download, cp, invite, invitations, share, unshare, leave):
    vfolder.add_command(_command)


@contextmanager
def folders() -> Iterator[VFolder[SyncMode]]:
    """The VFolder functions of an open session; SDK errors end the command (``✘``, 1)."""
    with cli_session() as session:
        yield session.VFolder


def confirm_or_exit(question: str, yes: bool, *, default: bool = False) -> None:
    if yes:
        return
    if not click.confirm(question, default=default):
        print_fail("Cancelled.")
        sys.exit(1)


# -- folders ---------------------------------------------------------------------------

LIST_FIELDS = (
    ("Name", "name"), ("ID", "id"), ("Owner", "is_owner"), ("Permission", "permission"),
    ("Owership Type", "ownership_type"),  # sic: the official client's header
    ("Usage Mode", "usage_mode"), ("User", "user"), ("Group", "group"),
)  # fmt: skip


def _quota(value: Any) -> str:
    try:
        amount = int(value)
    except (TypeError, ValueError):
        return ""
    return natural_size(amount) if amount > 0 else "-"


@vfolder.command(name="list")
@click.option(
    "-a", "--list-all", is_flag=True,
    help="List all virtual folders (superadmin privilege is required).",
)  # fmt: skip
@click.option("--trash", is_flag=True, help="List the folders in the trash instead.")
def list_(list_all: bool, trash: bool) -> None:
    """List virtual folders that belongs to the current user."""
    from tabulate import tabulate

    with folders() as vf:
        items = vf.list(list_all, trash=trash)
    if not items:
        click.echo("There is no virtual folders in the trash." if trash else (
            "There is no virtual folders created yet."
        ))  # fmt: skip
        return
    headers = [title for title, _ in LIST_FIELDS]
    rows = [[item.get(key) for _, key in LIST_FIELDS] for item in items]
    if any("used_bytes" in item for item in items):
        headers.append("Used")
        for row, item in zip(rows, items, strict=True):
            row.append(natural_size(item["used_bytes"]) if "used_bytes" in item else "")
    if any(item.get("quota") is not None for item in items):
        headers.append("Quota")
        for row, item in zip(rows, items, strict=True):
            row.append(_quota(item.get("quota")))
    if trash:
        headers.append("Trashed At")
        for row, item in zip(rows, items, strict=True):
            row.append(item.get("trashed_at"))
    click.echo(tabulate(rows, headers))


@vfolder.command()
def list_hosts() -> None:
    """List the hosts of virtual folders that is accessible to the current user."""
    with folders() as vf:
        hosts = vf.list_hosts()
    click.echo(f"Default vfolder host: {hosts.get('default')}")
    click.echo(f"Usable hosts: {', '.join(str(h) for h in hosts.get('allowed', []))}")


@vfolder.command()
def list_allowed_types() -> None:
    """List allowed vfolder types."""
    with folders() as vf:
        click.echo(vf.list_allowed_types())


@vfolder.command()
@click.argument("name")
@click.argument("host", metavar="HOST", required=False)
@click.option(
    "-g", "--group", metavar="GROUP",
    help="Group ID or NAME. Specify this option if you want to create a group folder.",
)  # fmt: skip
@click.option(
    "--unmanaged", "unmanaged", is_flag=True,
    help="Treats HOST as a mount point of unmanaged virtual folder. "
    "This option can only be used by Admin or Superadmin.",
)  # fmt: skip
@click.option(
    "-m", "--usage-mode", metavar="USAGE_MODE", default="general",
    help='Purpose of the folder: "general" (default), "data" (data for users) '
    'or "model" (pre-trained models).',
)  # fmt: skip
@click.option(
    "-p", "--permission", metavar="PERMISSION", default="rw",
    help='The folder\'s own permission ("ro", "rw" or "wd"); a group folder is shared '
    'read-only with "ro". Invitations give their own permission.',
)  # fmt: skip
@click.option(
    "-q", "--quota", metavar="QUOTA", default="0",
    help="Quota of the folder, with a binary suffix (e.g. 10g, 512m); 0 (default) for as "
    "much as allowed.",
)  # fmt: skip
@click.option(
    "--cloneable", "--allow-clone", is_flag=True,
    help="Allows the virtual folder to be cloned by users.",
)  # fmt: skip
def create(
    name: str,
    host: str | None,
    group: str | None,
    unmanaged: bool,
    usage_mode: str,
    permission: str,
    quota: str,
    cloneable: bool,
) -> None:
    """Create a new virtual folder.

    \b
    NAME: Name of a virtual folder.
    HOST: Name of a virtual folder host in which the virtual folder will be created.
    """
    with folders() as vf:
        created = vf.create(
            name, None if unmanaged else host, group=group, usage_mode=usage_mode,
            permission=permission, quota=quota, cloneable=cloneable,
            unmanaged_path=host if unmanaged else None,
        )  # fmt: skip
    click.echo(f'Virtual folder "{created.get("name", name)}" is created.')


@vfolder.command()
@click.argument("name")
def delete(name: str) -> None:
    """Delete the given virtual folder (it goes to the trash; see restore and purge).

    \b
    NAME: Name of a virtual folder.
    """
    with folders() as vf:
        vf(name).delete()
    print_done("Deleted.")


@vfolder.command()
@click.argument("name", metavar="NAME_OR_ID")
def restore(name: str) -> None:
    """Bring a deleted virtual folder back from the trash.

    \b
    NAME_OR_ID: Name or ID of a folder in the trash.
    """
    with folders() as vf:
        restored = vf(name).restore()
    print_done(f'Restored "{restored.get("name", name)}".')


@vfolder.command()
@click.argument("name", metavar="NAME_OR_ID")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def purge(name: str, yes: bool) -> None:
    """Remove a deleted virtual folder and all its files for good. This is irreversible!

    \b
    NAME_OR_ID: Name or ID of a folder in the trash.
    """
    confirm_or_exit(f'Purge "{name}" and all its files for good?', yes)
    with folders() as vf:
        vf(name).purge()
    print_done("Purged.")


@vfolder.command()
@click.argument("name")
def info(name: str) -> None:
    """Show the information of the given virtual folder.

    \b
    NAME: Name of a virtual folder.
    """
    with folders() as vf:
        item = vf(name).info()
    num_files = item.get("numFiles", item.get("num_files"))
    click.echo(f'Virtual folder "{item.get("name")}" (ID: {item.get("id")})')
    lines = [
        ("Owner", item.get("is_owner")), ("Host", item.get("host")),
        ("Permission", item.get("permission")), ("Number of files", num_files),
        ("Used", natural_size(item["used_bytes"]) if "used_bytes" in item else None),
        ("Quota", _quota(item["quota"]) if item.get("quota") is not None else None),
        ("Ownership Type", item.get("type")), ("Usage Mode", item.get("usage_mode", "")),
        ("Group ID", item.get("group")), ("User ID", item.get("user")),
        ("Clone Allowed", item.get("cloneable")),
    ]  # fmt: skip
    for label, value in lines:
        if value is not None or label in ("Group ID", "User ID"):
            click.echo(f"- {label}: {value}")
    shared = item.get("shared_with")
    if shared:
        click.echo("- Shared with:")
        for entry in shared:
            if isinstance(entry, dict):
                click.echo(f"    {entry.get('email')} ({entry.get('permission')})")
            else:
                click.echo(f"    {entry}")


@vfolder.command()
@click.argument("old_name")
@click.argument("new_name")
def rename(old_name: str, new_name: str) -> None:
    """Rename the given virtual folder. You cannot rename folders that others share with
    you, and the new name must be unique among all the folders you use.

    OLD_NAME: The current name of a virtual folder. NEW_NAME: The new name of a virtual
    folder.
    """
    with folders() as vf:
        vf(old_name).rename(new_name)
    print_done("Renamed.")


@vfolder.command()
@click.argument("name")
@click.option("-p", "--permission", metavar="PERMISSION", help="Folder's innate permission.")
@click.option(
    "--set-cloneable", type=bool, metavar="BOOLEXPR",
    help="A boolean-interpretable string whether a virtual folder can be cloned. "
    "If not set, the cloneable property is not changed.",
)  # fmt: skip
def update_options(name: str, permission: str | None, set_cloneable: bool | None) -> None:
    """Update an existing virtual folder.

    \b
    NAME: Name of the virtual folder to update.
    """
    with folders() as vf:
        vf(name).update_options(permission=permission, cloneable=set_cloneable)
    print_done("Updated.")


@vfolder.command()
@click.argument("name")
@click.argument("target_name")
@click.argument("target_host")
@click.option(
    "-m", "--usage-mode", metavar="USAGE_MODE", default="general",
    help="Purpose of the cloned virtual folder. Default value is 'general'.",
)  # fmt: skip
@click.option(
    "-p", "--permission", metavar="PERMISSION", default="rw",
    help="Cloned virtual folder's permission. Default value is 'rw'.",
)  # fmt: skip
def clone(name: str, target_name: str, target_host: str, usage_mode: str, permission: str) -> None:
    """Clone a virtual folder.

    \b
    NAME: Name of the virtual folder to clone from.
    TARGET_NAME: Name of the virtual folder to clone to.
    TARGET_HOST: Name of a virtual folder host to which the virtual folder will be cloned.
    """
    with folders() as vf:
        print_wait(f'Cloning "{name}" to "{target_name}"...')
        vf(name).clone(target_name, target_host, usage_mode=usage_mode, permission=permission)
    print_done("Cloned.")


# -- files -----------------------------------------------------------------------------


def _mode_string(mode: Any, kind: str) -> str:
    """``-rw-r--r--`` from an octal permission string (``"644"``) or an ``st_mode``."""
    import stat

    if isinstance(mode, str) and not mode.isdigit():
        return mode
    try:
        value = int(mode, 8) if isinstance(mode, str) else int(mode)
    except (TypeError, ValueError):
        return str(mode)
    if not stat.S_IFMT(value):
        value |= {"DIRECTORY": stat.S_IFDIR, "SYMLINK": stat.S_IFLNK}.get(kind, stat.S_IFREG)
    return stat.filemode(value)


def _listing_rows(result: dict[str, Any]) -> list[list[Any]]:
    def when(ts: Any) -> str:
        return datetime.fromtimestamp(float(ts)).strftime("%b %d %Y %H:%M:%S")

    if isinstance(result.get("files"), str):
        entries = json.loads(result["files"])
        return [
            [e.get("filename"), e.get("size"), when(e.get("mtime", 0)), e.get("mode")]
            for e in entries
        ]
    return [
        [
            e.get("name"),
            e.get("size"),
            when(_timestamp(e.get("modified"))),
            _mode_string(e.get("mode"), str(e.get("type", "FILE"))),
        ]
        for e in result.get("items", [])
    ]


def _timestamp(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return 0.0


@vfolder.command()
@click.argument("name")
@click.argument("path", metavar="PATH", default=".")
def ls(name: str, path: str) -> None:
    """List files in a path of a virtual folder.

    \b
    NAME: Name of a virtual folder.
    PATH: Path inside vfolder.
    """
    from tabulate import tabulate

    with folders() as vf:
        print_wait(f'Retrieving list of files in "{path}"...')
        result = vf(name).list_files(path)
    if result.get("error_msg"):
        print_fail(str(result["error_msg"]))
        sys.exit(1)
    try:
        rows = _listing_rows(result)
    except (TypeError, ValueError, AttributeError):
        print_fail(f"The server's file list is not valid: {result!r}"[:300])
        sys.exit(1)
    print_done("Retrived.")  # sic: the official client's wording, kept for scripts
    click.echo(tabulate(rows, headers=["file name", "size", "modified", "mode"]))


@vfolder.command()
@click.argument("name")
@click.argument("path")
@click.option(
    "-p", "--parents", is_flag=True,
    help="No error if the directory exists (parent directories are always made).",
)  # fmt: skip
def mkdir(name: str, path: str, parents: bool) -> None:
    """Create an empty directory in the virtual folder.

    \b
    NAME: Name of a virtual folder.
    PATH: The name or path of directory. Parent directories are created automatically
          if they do not exist.
    """
    with folders() as vf:
        vf(name).mkdir(path, parents=True, exist_ok=parents)
    print_done("Done.")


@vfolder.command()
@click.argument("name")
@click.argument("filenames", nargs=-1)
@click.option("-r", "--recursive", is_flag=True, help="Enable recursive deletion of directories.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def rm(name: str, filenames: tuple[str, ...], recursive: bool, yes: bool) -> None:
    """Delete files in a virtual folder. If one of the given paths is a directory and the
    recursive option is enabled, all its content and the directory itself are recursively
    deleted.

    This operation is irreversible!

    \b
    NAME: Name of a virtual folder.
    FILENAMES: Paths of the files to delete.
    """
    if not filenames:
        print_fail("Name the files to delete.")
        sys.exit(2)
    confirm_or_exit("Are you sure?", yes, default=True)
    with folders() as vf:
        vf(name).delete_files(filenames, recursive=recursive)
    print_done("Done.")


@vfolder.command()
@click.argument("name")
@click.argument("target_path")
@click.argument("new_name")
def rename_file(name: str, target_path: str, new_name: str) -> None:
    """Rename a file or a directory in a virtual folder.

    \b
    NAME: Name of a virtual folder.
    TARGET_PATH: The target path inside a virtual folder (file or directory).
    NEW_NAME: New name of the target (should not contain slash).
    """
    with folders() as vf:
        vf(name).rename_file(target_path, new_name)
    print_done("Renamed.")


@vfolder.command()
@click.argument("name")
@click.argument("src")
@click.argument("dst")
def mv(name: str, src: str, dst: str) -> None:
    """Move a file or a directory inside a virtual folder.

    \b
    NAME: Name of a virtual folder.
    SRC: The path to move.
    DST: An existing directory to move it into, or its new path.
    """
    with folders() as vf:
        vf(name).move_file(src, dst)
    print_done("Moved.")


@vfolder.command()
@click.argument("name")
@click.argument("filename")
def request_download(name: str, filename: str) -> None:
    """Request JWT-formated download token for later use.

    \b
    NAME: Name of a virtual folder.
    FILENAME: Path of the file to be downloaded.
    """
    with folders() as vf:
        ticket = vf(name).request_download(filename)
    print_done(f"Download token: {ticket.get('token')}")
    click.echo(f"{ticket.get('url')}?token={ticket.get('token')}")
