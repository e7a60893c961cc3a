"""Virtual folders of a new kernel as bind mounts.

The manager names each folder by volume and id (``VFolderMount``); this node sees a volume at
``[agent] volume_mounts[volume]`` and the folder at ``common.storage_protocol.folder_path`` under
it. A folder this node cannot mount safely fails the create with the reason: a volume it does
not mount, a folder directory that is missing, a symlink anywhere on the way (it could point the
bind mount anywhere on the host), a container path outside /home/work.

A folder named ``.ssh`` is made the way sshd accepts it before it is mounted: the directory
0700, ``authorized_keys`` and private keys 0600, all owned by the session's user. Nothing there
is followed: entries are looked at with lstat, and symlinks are left alone.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from backendai.agent.errors import KernelCreationFailed
from backendai.agent.settings import AgentSettings
from backendai.common.agent_protocol import MountSpec, VFolderMount
from backendai.common.storage_protocol import folder_path
from backendai.common.vfolders import MOUNT_ROOT

SSH_FOLDER = ".ssh"
# Files sshd (StrictModes) or ssh refuse when others may read them.
_PRIVATE_FILES = frozenset({"authorized_keys", "authorized_keys2", "config", "known_hosts"})


class VFolderUnavailable(KernelCreationFailed):
    code = "vfolder-mount-failed"
    title = "A virtual folder could not be mounted."


def _refused(m: VFolderMount, why: str) -> VFolderUnavailable:
    return VFolderUnavailable(f"Cannot mount the virtual folder {m.name!r}: {why}.")


def _no_symlinks(m: VFolderMount, root: Path, rel: str) -> Path:
    """``root/rel``, checked component by component (root included) with lstat: each one
    exists, none is a symlink, the last is a directory."""
    path = Path("/")
    for part in [*root.parts[1:], *PurePosixPath(rel).parts]:
        path = path / part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise _refused(m, f"its directory {path} does not exist on this node") from None
        except OSError as e:
            raise _refused(m, f"its directory {path} cannot be read ({e.strerror})") from None
        if stat.S_ISLNK(st.st_mode):
            raise _refused(
                m, f"{path} is a symbolic link (volume_mounts and folder directories must be "
                "real paths; nothing is mounted through a link)",
            )  # fmt: skip
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        raise _refused(m, f"{path} is not a directory")
    return path


def host_path(settings: AgentSettings, m: VFolderMount) -> Path:
    """The folder's directory on this node, checked."""
    root = settings.volume_mounts.get(m.volume)
    if root is None:
        known = ", ".join(sorted(settings.volume_mounts)) or "none"
        raise _refused(
            m, f"this node does not mount the storage volume {m.volume!r} (it mounts: {known}; "
            "see [agent] volume_mounts)",
        )  # fmt: skip
    if not root.is_absolute():
        raise _refused(m, f"the volume {m.volume!r} is configured with a relative path {root}")
    return _no_symlinks(m, root, folder_path(m.vfid))


def _container_path(m: VFolderMount) -> str:
    path = PurePosixPath(m.container_path)
    top = PurePosixPath(MOUNT_ROOT)
    if not path.is_absolute() or ".." in path.parts or path == top or not path.is_relative_to(top):
        raise _refused(m, f"the mount path {m.container_path!r} is not inside {MOUNT_ROOT}")
    return str(path)


def _is_private_key(name: str, path: Path) -> bool:
    if name.startswith("id_") and not name.endswith(".pub"):
        return True
    try:
        with open(path, "rb", opener=_no_follow) as f:
            return b"PRIVATE KEY-----" in f.read(64)
    except OSError:
        return False


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)


def fix_ssh_folder(path: Path, uid: int, gid: int) -> None:
    """sshd's StrictModes: the directory 0700, keys and authorized_keys 0600, owned by the
    session's user; public keys stay readable. Symlinks are skipped, never followed."""
    os.chown(path, uid, gid, follow_symlinks=False)
    os.chmod(path, 0o700)
    with os.scandir(path) as entries:
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue  # symlinks, directories and the like: left as they are
            p = Path(entry.path)
            os.chown(p, uid, gid, follow_symlinks=False)
            if entry.name in _PRIVATE_FILES or _is_private_key(entry.name, p):
                mode = 0o600
            else:
                mode = stat.S_IMODE(st.st_mode) & ~0o022  # nothing writable by others
            # Not a symlink (lstat said so a moment ago); chmod through an O_NOFOLLOW fd so
            # that a swap for one meanwhile changes nothing outside.
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                if stat.S_ISREG(os.fstat(fd).st_mode):
                    os.fchmod(fd, mode)
            finally:
                os.close(fd)


def vfolder_mount_specs(
    settings: AgentSettings, vfolders: Sequence[VFolderMount], uid: int, gid: int
) -> list[MountSpec]:
    """Bind mounts of ``vfolders`` (a ``.ssh`` folder made fit for sshd first); raises
    ``VFolderUnavailable`` with the reason for the first that cannot be mounted."""
    specs = []
    for m in vfolders:
        target = _container_path(m)
        path = host_path(settings, m)
        if m.name == SSH_FOLDER:  # read-only too: sshd reads it either way
            try:
                fix_ssh_folder(path, uid, gid)
            except OSError as e:
                raise _refused(m, f"its permissions could not be set for sshd ({e})") from e
        specs.append(MountSpec(host_path=str(path), container_path=target, read_only=m.read_only))
    return specs
