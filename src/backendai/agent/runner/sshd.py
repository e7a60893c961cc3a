"""The intrinsic SSH server: OpenSSH's sshd run as the container user, never as root.

Everything it needs lives in a directory of the runner's own (mode 0700): its configuration,
host keys made at its first start (per container, never shared, kept for the container's life),
its pid file, and ``authorized_keys_session`` with the session key ``id_container.pub``. Keys
in the owner's ``~/.ssh/authorized_keys`` (a mounted folder) work as well.

A non-root sshd can log in only the user it runs as, which is all a session has. Its
``StrictModes`` would refuse ``authorized_keys_session`` because /tmp above it is world-writable,
and a home or ``.ssh`` folder that a development agent made 0777; it guards a user's keys from
other users, and no other user runs in the container, so it is off.
"""

from __future__ import annotations

import os
import subprocess
import time

from .channels import log

SSHD = "/usr/sbin/sshd"
HOST_KEYS: tuple[tuple[str, list[str]], ...] = (("rsa", ["-b", "2048"]), ("ed25519", []))
KEY_WAIT = 5.0  # for id_container, which the runner makes in the background at its start
KEY_POLL = 0.05


class SshdError(Exception):
    """sshd cannot be set up; the message says why, for the user."""


def run_tool(argv: list[str]) -> str:
    """Runs a setup command; its output if it failed, else ''."""
    try:
        done = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if done.returncode == 0:
        return ""
    output = (done.stdout + done.stderr).decode(errors="replace").strip()
    return output or f"status {done.returncode}"


def make_host_keys(private: str) -> list[str]:
    keys = []
    for kind, extra in HOST_KEYS:
        key = os.path.join(private, f"ssh_host_{kind}_key")
        if not os.path.exists(key):
            tmp = key + ".tmp"
            for stale in (tmp, tmp + ".pub"):
                if os.path.lexists(stale):
                    os.unlink(stale)
            argv = ["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", "", "-f", tmp]
            if failure := run_tool(argv):
                raise SshdError(f"ssh-keygen could not make the {kind} host key: {failure}")
            os.replace(tmp + ".pub", key + ".pub")
            os.replace(tmp, key)  # last: its presence means the pair is complete
        keys.append(key)
    return keys


def session_public_key(workdir: str) -> str:
    """id_container.pub, once the runner's background ssh-keygen has finished (or '')."""
    key = os.path.join(workdir, "id_container")
    deadline = time.monotonic() + KEY_WAIT
    while not os.path.exists(key) and time.monotonic() < deadline:
        time.sleep(KEY_POLL)
    try:
        with open(key + ".pub") as f:
            return f.read()
    except OSError:
        log("sshd: no id_container.pub; only ~/.ssh/authorized_keys can log in")
        return ""


def write_private(path: str, text: str) -> None:
    tmp = path + ".tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def config_text(private: str, port: int, host_keys: list[str]) -> str:
    lines = [
        "# Written by the Backend.AI runner at each start of sshd; edits are lost.",
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        *(f"HostKey {key}" for key in host_keys),
        f"PidFile {private}/sshd.pid",
        "UsePAM no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin no",
        "PubkeyAuthentication yes",
        "StrictModes no",
        f"AuthorizedKeysFile .ssh/authorized_keys {private}/authorized_keys_session",
        "Subsystem sftp internal-sftp",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
    ]
    return "\n".join(lines) + "\n"


def prepare_sshd(private: str, workdir: str, port: int) -> list[str]:
    """Keys and configuration in place and checked (``sshd -t``); the command to start it."""
    os.makedirs(private, mode=0o700, exist_ok=True)
    os.chmod(private, 0o700)
    host_keys = make_host_keys(private)
    write_private(os.path.join(private, "authorized_keys_session"), session_public_key(workdir))
    config = os.path.join(private, "sshd_config")
    write_private(config, config_text(private, port, host_keys))
    if failure := run_tool([SSHD, "-t", "-f", config]):
        raise SshdError(f"sshd refused its configuration: {failure}")
    # -D: stays in the foreground, so stopping its process group stops it; -e: logs to stderr,
    # which is the service's log.
    return [SSHD, "-D", "-e", "-f", config]
