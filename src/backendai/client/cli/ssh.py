"""``backend.ai ssh`` and ``backend.ai scp``: OpenSSH into a session through its ``sshd`` app.

Both download the session's private key (``/home/work/id_container``) into a private
temporary directory, relay a local port to the ``sshd`` app in this same process (as ``app``
does), and run the real ``ssh``/``scp`` against it, exiting with its exit code. The key is
removed when the command ends, however it ends.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from backendai.client.exceptions import BackendError

from .app import start_local_proxy
from .connection import async_cli_session
from .pretty import print_error, print_fail, print_info

if TYPE_CHECKING:
    from backendai.client.session import AsyncSession

DEFAULT_PORT = 9922
KEY_FILE = "id_container"
SSH_APP = "sshd"
# The session's host key is new with every session, so checking or recording it only gets in
# the way; only the downloaded key is offered (an agent's many keys would hit MaxAuthTries);
# scp's "work@localhost" must not resolve to ::1, where nothing listens.
SSH_OPTIONS = (
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "IdentitiesOnly=yes",
    "-o", "AddressFamily=inet",
)  # fmt: skip
PASS_THROUGH = {
    "ignore_unknown_options": True,
    "allow_extra_args": True,
    "allow_interspersed_args": True,
}

PORT_HELP = f"The local port of the tunnel (default: {DEFAULT_PORT}, or a free one if taken)."

CommandBuilder = Callable[[Path, int], list[str]]


async def _download_key(api: AsyncSession, session_ref: str, dest: Path) -> Path | None:
    try:
        await api.ComputeSession(session_ref).download([KEY_FILE], dest=dest)
    except BackendError as e:
        print_fail("Failed to download the SSH key from the session:")
        print_error(e)
        return None
    key = dest / KEY_FILE
    if not key.is_file():
        print_fail(f"The session has no SSH key ({KEY_FILE}) to download.")
        return None
    key.chmod(0o600)  # ssh refuses a private key that others may read
    return key


async def _run_child(command: Sequence[str]) -> int:
    """Run ``command`` on this terminal; SIGINT and SIGTERM sent to us go on to it, so that
    it decides how to end (an interactive ssh gets Ctrl-C as a key anyway)."""
    proc = await asyncio.create_subprocess_exec(*command)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, proc.send_signal, sig)
    try:
        code = await proc.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
    return 128 - code if code < 0 else code  # killed by a signal: the shell's convention


async def run_over_tunnel(session_ref: str, port: int | None, build: CommandBuilder) -> int:
    ports = [port] if port is not None else [DEFAULT_PORT, 0]
    try:
        async with async_cli_session() as api:
            with tempfile.TemporaryDirectory(prefix="backendai-ssh-") as tmp:  # mode 0700
                key = await _download_key(api, session_ref, Path(tmp))
                if key is None:
                    return 1
                started = await start_local_proxy(api, session_ref, SSH_APP, "127.0.0.1", ports)
                if started is None:
                    return 1
                proxy, _ = started
                try:
                    print_info(f"running a temporary sshd proxy at localhost:{proxy.port} ...")
                    return await _run_child(build(key, proxy.port))
                finally:
                    await proxy.close()
    except BackendError as e:
        print_error(e)
        return 1


_port_option = click.option(
    "-p", "--port", type=click.IntRange(0, 65535), default=None, metavar="PORT", help=PORT_HELP
)


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        print_fail(
            f'OpenSSH\'s "{tool}" command is not installed (on Debian/Ubuntu: '
            "apt-get install openssh-client)."
        )
        sys.exit(1)


@click.command(context_settings=PASS_THROUGH)
@click.argument("session_ref", metavar="SESSION_REF")
@_port_option
@click.pass_context
def ssh(ctx: click.Context, session_ref: str, port: int | None) -> None:
    """Execute the ssh command against the target compute session

    \b
    SESSION_REF: The user-provided name or the unique ID of a running compute session.

    All remaining options and arguments not listed here are passed to the ssh command as-is.
    """
    _require("ssh")
    extra = list(ctx.args)

    def build(key: Path, local_port: int) -> list[str]:
        return [
            "ssh", *SSH_OPTIONS, "-i", str(key), "-p", str(local_port), "work@127.0.0.1", *extra,
        ]  # fmt: skip

    sys.exit(asyncio.run(run_over_tunnel(session_ref, port, build)))


@click.command(context_settings=PASS_THROUGH)
@click.argument("session_ref", metavar="SESSION_REF")
@click.argument("src", metavar="SRC")
@click.argument("dst", metavar="DST")
@_port_option
@click.option(
    "-r", "--recursive", is_flag=True, help="recursive flag option to process directories"
)
@click.pass_context
def scp(
    ctx: click.Context, session_ref: str, src: str, dst: str, port: int | None, recursive: bool
) -> None:
    """Execute the scp command against the target compute session

    \b
    The SRC and DST have the same format with the original scp command,
    either a remote path as "work@localhost:path" or a local path.

    \b
    SESSION_REF: The user-provided name or the unique ID of a running compute session.
    SRC: the source path
    DST: the destination path

    All remaining options and arguments not listed here are passed to the scp command as-is.

    \b
    Examples:
    * Uploading a local directory to the session:
      > backend.ai scp mysess -p 9922 -r tmp/ work@localhost:tmp2/
    * Downloading a directory from the session:
      > backend.ai scp mysess -p 9922 -r work@localhost:tmp2/ tmp/
    """
    _require("scp")
    extra = list(ctx.args)
    recursive_args = ["-r"] if recursive else []

    def build(key: Path, local_port: int) -> list[str]:
        return [
            "scp", *SSH_OPTIONS, "-i", str(key), "-P", str(local_port), *recursive_args,
            src, dst, *extra,
        ]  # fmt: skip

    sys.exit(asyncio.run(run_over_tunnel(session_ref, port, build)))
