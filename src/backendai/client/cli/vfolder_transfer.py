"""``vfolder upload``, ``download`` and ``cp``: file contents in and out of a folder.

Each file gets a progress bar (stderr). An interrupted transfer resumes when the same
command runs again: uploads from the offset the storage has, downloads from ``FILE.part``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .connection import cli_session
from .pretty import print_done, print_fail

if TYPE_CHECKING:
    from tqdm import tqdm

CHUNK_HELP = (
    'Transfer the file with the given chunk size with binary suffixes (e.g., "16m"). Set this '
    "between 8 to 64 megabytes for high-speed disks (e.g., SSD RAID) and networks (e.g., 40 "
    "GbE) for the maximum throughput."
)
_REMOTE = re.compile(r"^(?P<folder>[^/:]+):(?P<path>.*)$")


if TYPE_CHECKING:  # click >= 8.2 types ParamType by its value; older ones cannot subscript it
    _ParamTypeBase = click.ParamType[int]
else:
    _ParamTypeBase = click.ParamType


class ByteSize(_ParamTypeBase):
    """``16m``, ``1g``, ``65536``: a size in bytes (binary suffixes)."""

    name = "BYTE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        from backendai.common.errors import InvalidRequest
        from backendai.common.slots import parse_amount

        try:
            size = int(parse_amount("mem", value))
        except InvalidRequest:
            self.fail(f"{value!r} is not a size like 16m or 65536.", param, ctx)
        if size <= 0:
            self.fail("The size must be positive.", param, ctx)
        return size


class ProgressBars:
    """A progress callback that draws one tqdm bar per file."""

    def __init__(self) -> None:
        self._bar: tqdm[Any] | None = None
        self._path: str | None = None

    def __call__(self, path: str, done: int, total: int) -> None:
        from backendai.client.func.session_files import open_progress

        if path != self._path or self._bar is None:
            self.close()
            self._path = path
            self._bar = open_progress(path, total or None, show=True)
        bar = self._bar
        if total and bar.total != total:
            bar.total = total
        if done > bar.n:
            bar.update(done - bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _options(fn: Any) -> Any:
    fn = click.option(
        "--chunk-size", type=ByteSize(), default="16m", metavar="BYTE",
        help=CHUNK_HELP + "  [default: 16.0M]",
    )(fn)  # fmt: skip
    fn = click.option(
        "-b", "--base-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
        metavar="PATH",
        help="Set the parent directory from where the file is uploaded.  "
        "[default: current working directry]",
    )(fn)  # fmt: skip
    return fn


@click.command()
@click.argument("name")
@click.argument("filenames", nargs=-1, type=click.Path())
@_options
def upload(name: str, filenames: tuple[str, ...], base_dir: Path | None, chunk_size: int) -> None:
    """TUS Upload a file to the virtual folder from the current working directory. The files
    with the same names will be overwirtten.

    \b
    NAME: Name of a virtual folder.
    FILENAMES: Paths of the files to be uploaded.
    """
    if not filenames:
        print_fail("Name the files to upload.")
        sys.exit(2)
    with cli_session() as session, ProgressBars() as bars:
        session.VFolder(name).upload(
            filenames, basedir=base_dir, chunk_size=chunk_size, progress=bars
        )
    print_done("Done.")


@click.command()
@click.argument("name")
@click.argument("filenames", nargs=-1)
@_options
@click.option("--overwrite", is_flag=True, help="Replace local files that exist already.")
def download(
    name: str, filenames: tuple[str, ...], base_dir: Path | None, chunk_size: int, overwrite: bool
) -> None:
    """Download a file from the virtual folder to the current working directory. An existing
    file is kept unless --overwrite is given.

    \b
    NAME: Name of a virtual folder.
    FILENAMES: Paths of the files to be downloaded inside a vfolder.
    """
    if not filenames:
        print_fail("Name the files to download.")
        sys.exit(2)
    with cli_session() as session, ProgressBars() as bars:
        session.VFolder(name).download(
            filenames, basedir=base_dir, overwrite=overwrite, chunk_size=chunk_size,
            progress=bars,
        )  # fmt: skip
    print_done("Done.")


def _split(arg: str) -> tuple[str | None, str]:
    match = _REMOTE.match(arg)
    if match is None:
        return None, arg
    return match["folder"], match["path"]


@click.command()
@click.argument("filenames", nargs=-1)
@click.option("--overwrite", is_flag=True, help="Replace local files that exist already.")
def cp(filenames: tuple[str, ...], overwrite: bool) -> None:
    """An scp-like shortcut for download/upload commands.

    FILENAMES: Paths of the files to operate on. The last one is the target while all
    others are the sources. Either source paths or the target path should be prefixed with
    "<vfolder-name>:" like when using the Linux scp command to indicate if it is a remote
    path. When both are remote (in one folder), the folder copies the files itself.
    """
    if len(filenames) < 2:
        print_fail("Give one or more sources and a target.")
        sys.exit(2)
    *sources, target = (_split(arg) for arg in filenames)
    source_folders = {folder for folder, _ in sources}
    if len(source_folders) != 1:
        print_fail("The sources must be all local, or all in one folder.")
        sys.exit(2)
    (source_folder,) = source_folders
    target_folder, target_path = target
    if source_folder is None and target_folder is None:
        print_fail('Prefix the remote side with "<vfolder-name>:".')
        sys.exit(2)
    if source_folder is not None and target_folder is not None and source_folder != target_folder:
        print_fail("Copying between two folders is not supported; download and upload.")
        sys.exit(2)
    with cli_session() as session, ProgressBars() as bars:
        if source_folder is None:
            assert target_folder is not None
            folder = session.VFolder(target_folder)
            for _, path in sources:
                local = Path(path).resolve()
                folder.upload(
                    [local], basedir=local.parent, dest=target_path, progress=bars
                )  # fmt: skip
        elif target_folder is None:
            folder = session.VFolder(source_folder)
            into = Path(target_path)
            for _, path in sources:
                dest = into / Path(path).name if into.is_dir() or len(sources) > 1 else into
                folder.download([path], dest=dest, overwrite=overwrite, progress=bars)
        else:
            folder = session.VFolder(source_folder)
            for _, path in sources:
                folder.copy_file(path, target_path)
    print_done("Done.")
