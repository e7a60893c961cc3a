"""What a dotfile may be: its path inside the home, its permission, and how many and how big.

The manager checks every dotfile when it is stored; the agent checks again before it writes one
into a container's home (and writes it without following symlinks), so a row that bypassed the
API can still not reach outside ``/home/work``.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from backendai.common.errors import InvalidRequest

HOME = PurePosixPath("/home/work")
MAX_PATH = 255  # characters of the path relative to the home
MAX_DATA = 64 * 1024  # bytes of all dotfiles of one owner (a keypair, group or domain)
MAX_COUNT = 100  # dotfiles of one owner
# What the agent accepts in one create request (user, group and domain ones merged).
MAX_MERGED_COUNT = 3 * MAX_COUNT
MAX_MERGED_DATA = 3 * MAX_DATA

_PERMISSION = re.compile(r"0?[0-7]{3}")
# Written by the platform itself; a dotfile there would be overwritten or break a service.
RESERVED = frozenset({".ssh/authorized_keys", "id_container", "id_container.pub"})


def normalize_path(path: str) -> str:
    """The dotfile's path relative to the home (``.bashrc``, ``.config/foo.toml``); an
    absolute path must be under /home/work. Refuses ``..``, empty and reserved paths."""
    if not path or "\x00" in path or "\\" in path:
        raise InvalidRequest(f"The dotfile path {path!r} is not a valid path.")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        if not pure.is_relative_to(HOME) or pure == HOME:
            raise InvalidRequest(
                f"The dotfile path {path} is outside the home: give a path relative to "
                f"{HOME} (e.g. .bashrc) or an absolute one under {HOME}/."
            )
        pure = pure.relative_to(HOME)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidRequest(f"The dotfile path {path} may not contain '..'.")
    relative = "/".join(pure.parts)
    if not relative or relative == ".":
        raise InvalidRequest(f"The dotfile path {path!r} names no file.")
    if len(relative) > MAX_PATH or any(len(p.encode()) > 255 for p in pure.parts):
        raise InvalidRequest(f"The dotfile path is longer than {MAX_PATH} characters.")
    if relative in RESERVED or relative.startswith(".ssh/authorized_keys"):
        raise InvalidRequest(f"The dotfile path {relative} is reserved by the platform.")
    return relative


def normalize_permission(permission: str) -> str:
    """Three octal digits of rwx bits (``644``); no setuid, setgid or sticky bit."""
    text = permission.strip()
    if not _PERMISSION.fullmatch(text):
        raise InvalidRequest(
            f"The permission {permission!r} is not an octal mode of three digits (e.g. 644)."
        )
    return text[-3:]
