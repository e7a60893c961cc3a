"""The ``backend.ai`` command: the root group and the list of command groups."""

from __future__ import annotations

import warnings
from typing import IO

import click

from backendai.client.config import CLIENT_VERSION

from .admin import admin
from .admin.sessions import info
from .auth import login, logout
from .config import config
from .connection import CLIState
from .events import events
from .files import download, ls, upload
from .logs import logs
from .ps import ps
from .run import run
from .session import restart, start, terminate


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: IO[str] | None = None,
    line: str | None = None,
) -> None:
    click.echo(
        f"{click.style(category.__name__, fg='yellow', bold=True)}: "
        f"{click.style(str(message), fg='yellow')}",
        err=True,
    )


@click.group(
    name="backend.ai",
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
)
@click.option(
    "--skip-sslcert-validation",
    is_flag=True,
    help="Do not verify the server's TLS certificate (for self-signed test servers).",
)
@click.version_option(CLIENT_VERSION, prog_name="backend.ai", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx: click.Context, skip_sslcert_validation: bool) -> None:
    """Command line interface of the Backend.AI-compatible compute-session platform.

    Configure it with BACKEND_ENDPOINT, BACKEND_ENDPOINT_TYPE (api or session) and, in
    api mode, BACKEND_ACCESS_KEY and BACKEND_SECRET_KEY.
    """
    ctx.obj = CLIState(skip_sslcert_validation=skip_sslcert_validation)
    warnings.showwarning = _show_warning
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


for command in (
    admin, config, download, events, info, login, logout, logs, ls, ps, restart, run, start,
    terminate, upload,
):  # fmt: skip
    main.add_command(command)
# Backend.AI's client offers "terminate" also as "rm" and "kill".
main.add_command(terminate, "rm")
main.add_command(terminate, "kill")
