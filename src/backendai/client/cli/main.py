"""The ``backend.ai`` command: the root group and the list of command groups.

Command modules are imported only when their command runs (or for ``--help``): importing
them all costs more start-up time than most commands take to talk to the server.
"""

from __future__ import annotations

import importlib
import warnings
from typing import IO

import click

from backendai.client.config import CLIENT_VERSION

from .connection import CLIState

#: Command name -> ``"module:attribute"`` (relative to this package). Backend.AI's client
#: offers ``terminate`` also as ``rm`` and ``kill``, and ``admin session`` as ``info``.
COMMANDS: dict[str, str] = {
    "admin": ".admin:admin",
    "announcement": ".announcement:announcement",
    "app": ".app:app",
    "apps": ".app:apps",
    "config": ".config:config",
    "dotfile": ".dotfile:dotfile",
    "download": ".files:download",
    "events": ".events:events",
    "info": ".admin.sessions:info",
    "kill": ".session:terminate",
    "login": ".auth:login",
    "logout": ".auth:logout",
    "logs": ".logs:logs",
    "ls": ".files:ls",
    "manager": ".manager:manager",
    "proxy": ".proxy:proxy",
    "ps": ".ps:ps",
    "restart": ".session:restart",
    "rm": ".session:terminate",
    "run": ".run:run",
    "scp": ".ssh:scp",
    "server-logs": ".server_logs:server_logs",
    "sesstpl": ".session_template:session_template",
    "session": ".session_image:session",
    "session-template": ".session_template:session_template",
    "ssh": ".ssh:ssh",
    "start": ".session:start",
    "start-template": ".session_template:start_template",
    "sweep": ".sweep:sweep",
    "task-logs": ".task_logs:task_logs",
    "terminate": ".session:terminate",
    "upload": ".files:upload",
    "update-password": ".account:update_password",
    "vfolder": ".vfolder:vfolder",
}


class LazyGroup(click.Group):
    """A group whose subcommands come from :data:`COMMANDS`, each imported on first use."""

    def __init__(self, *args: object, lazy_commands: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in self.lazy_commands:
            return command
        module_name, attribute = self.lazy_commands[cmd_name].split(":")
        loaded = getattr(importlib.import_module(module_name, __package__), attribute)
        if not isinstance(loaded, click.Command):
            raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
        self.add_command(loaded, cmd_name)
        return loaded


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
    cls=LazyGroup,
    lazy_commands=COMMANDS,
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
