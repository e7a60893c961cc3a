"""Host files and directories that hold secrets or users' data: this process's user alone may
read them. The data dir holds the database (secret keys), the agent token and the session
homes; a host account that could read it would read every tenant's keys and files."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def _tighten(path: Path, mode: int) -> None:
    """chmod to ``mode`` when looser and ours (a directory an admin gave us stays theirs)."""
    st = path.stat()
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & ~mode:
        path.chmod(mode)


def private_dir(path: Path) -> Path:
    """``path`` as a directory (created with missing parents) that only we can enter."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file (created empty when missing) that only we can read.

    An existing file is never opened, only chmod-ed: closing any descriptor of a file drops
    every POSIX lock this process holds on it, and SQLite's locks on its database are such
    locks (a manager that opened its database file while its engine ran would let another
    connection delete the live WAL)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE))
    _tighten(path, FILE_MODE)
    return path


def shared_token(path: Path) -> str:
    """The secret kept in ``path`` (created with a random value on first use, 0600): how two
    processes of one installation (manager and agent, manager and storage) share a token
    without configuring one."""
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    private_dir(path.parent)
    token = secrets.token_urlsafe(32)
    private_file(path)
    path.write_text(token + "\n")
    return token
