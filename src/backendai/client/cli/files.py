"""``backend.ai upload``, ``download`` and ``ls``: files in a session's ``/home/work``."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from backendai.client.exceptions import BackendError

from .connection import cli_session
from .formatting import natural_size
from .pretty import print_done, print_error, print_fail, print_wait


@click.command()
@click.argument("session_id", metavar="SESSID")
@click.argument("files", nargs=-1, type=click.Path(exists=True))
def upload(session_id: str, files: tuple[str, ...]) -> None:
    """Upload files into the session's home directory (/home/work).

    \b
    SESSID: the session's name or ID.
    FILES: local files; their paths relative to the current directory are kept.
    """
    if not files:
        return
    with cli_session() as session:
        try:
            print_wait("Uploading files...")
            session.ComputeSession(session_id).upload(files, show_progress=True)
        except BackendError as e:
            print_error(e)
            sys.exit(1)
    print_done("Uploaded.")


@click.command()
@click.argument("session_id", metavar="SESSID")
@click.argument("files", nargs=-1)
@click.option(
    "--dest",
    type=click.Path(path_type=Path),
    default=Path("."),
    help="The local directory to save the files in (default: the current one).",
)
def download(session_id: str, files: tuple[str, ...], dest: Path) -> None:
    """Download files from the session's container.

    \b
    SESSID: the session's name or ID.
    FILES: paths in the container, relative to /home/work unless absolute.
    """
    if not files:
        return
    with cli_session() as session:
        try:
            print_wait(f"Downloading file(s) from {session_id}...")
            session.ComputeSession(session_id).download(files, dest, show_progress=True)
        except BackendError as e:
            print_error(e)
            sys.exit(1)
    print_done(f"Downloaded to {dest.resolve()}.")


@click.command()
@click.argument("session_id", metavar="SESSID")
@click.argument("path", metavar="PATH", default="/home/work")
def ls(session_id: str, path: str) -> None:
    """List a directory of the session's container.

    \b
    SESSID: the session's name or ID.
    PATH: a directory in the container (default: /home/work).
    """
    from tabulate import tabulate

    with cli_session() as session:
        try:
            print_wait(f'Retrieving list of files in "{path}"...')
            result = session.ComputeSession(session_id).list_files(path)
        except BackendError as e:
            print_error(e)
            sys.exit(1)
    if result.get("errors"):
        print_fail(str(result["errors"]))
        sys.exit(1)
    try:
        entries = json.loads(result["files"])
    except (KeyError, TypeError, ValueError):
        print_fail(f"The server's file list is not valid: {result.get('files')!r}")
        sys.exit(1)
    rows = [
        [
            entry.get("filename"),
            natural_size(entry.get("size", 0)),
            datetime.fromtimestamp(float(entry.get("mtime", 0))).strftime("%b %d %Y %H:%M:%S"),
            entry.get("mode"),
        ]
        for entry in entries
    ]
    print_done("Retrived.")  # sic: the official client's wording, kept for scripts
    click.echo(tabulate(rows, headers=["File name", "Size", "Modified", "Mode"]))
