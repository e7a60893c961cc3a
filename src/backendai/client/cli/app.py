"""``backend.ai app`` (a local proxy to an app of a session) and ``backend.ai apps`` (the list).

``app`` listens on a local port until Ctrl-C / SIGINT / SIGTERM and relays every connection it
accepts to the app over a tcpproxy WebSocket of its own (API_CONTRACT §3.2).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import click

from backendai.client.exceptions import BackendError

from .connection import async_cli_session
from .pretty import print_error, print_fail, print_info, print_warn

if TYPE_CHECKING:
    from backendai.client.func.session_apps import LocalAppProxy
    from backendai.client.session import AsyncSession

DEFAULT_BIND = "127.0.0.1:8080"


def parse_bind(value: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[V6HOST]:PORT`` -> (host, port); host 127.0.0.1 if none."""
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    host = host.removeprefix("[").removesuffix("]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not [HOST:]PORT.", param_hint="-b/--bind") from None
    if not 0 < port < 65536:
        raise click.BadParameter(f"The port {port} is out of range.", param_hint="-b/--bind")
    return host, port


def find_app(apps: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((item for item in apps if item.get("name") == name), None)


def names_of_apps(apps: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(str(item.get("name")) for item in apps) or "(none)"


@asynccontextmanager
async def stop_signal() -> AsyncIterator[asyncio.Event]:
    """An event set by the first SIGINT or SIGTERM (Ctrl-C included) while inside. Entered
    before anything is printed, so that a signal sent as soon as the URL shows is caught."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def start_local_proxy(
    api: AsyncSession,
    session_name: str,
    app_name: str,
    host: str,
    ports: Sequence[int],
    *,
    arguments: Mapping[str, Any] | None = None,
    envs: Mapping[str, str] | None = None,
) -> tuple[LocalAppProxy, Mapping[str, Any]] | None:
    """Check that the session has the app, then listen on the first of ``ports`` that is
    free. None (after a ``✘`` line) when the app is unknown or no port could be bound."""
    from backendai.client.func.session_apps import LocalAppProxy

    cs = api.ComputeSession(session_name)
    apps = await cs.stream_app_info()
    info = find_app(apps, app_name)
    if info is None:
        print_fail(
            f'The app "{app_name}" is not supported by the session "{session_name}".\n'
            f"Its apps are: {names_of_apps(apps)}"
        )
        return None
    proxy = LocalAppProxy(
        cs, app_name, host=host, arguments=dict(arguments or {}), envs=envs, on_error=print_fail
    )
    error: OSError | None = None
    for port in ports:
        proxy.port = port
        try:
            await proxy.start()
            return proxy, info
        except OSError as e:
            error = e
    reason = error.strerror if error is not None and error.strerror else error
    print_fail(f"Cannot listen on {host}:{ports[-1]}: {reason}")
    return None


async def serve_app(
    session_name: str,
    app_name: str,
    host: str,
    port: int,
    protocol: str | None,
    arguments: Mapping[str, Any],
    envs: Mapping[str, str],
) -> int:
    from backendai.client.func.session_apps import app_url

    try:
        async with stop_signal() as stop, async_cli_session() as api:
            started = await start_local_proxy(
                api, session_name, app_name, host, [port], arguments=arguments, envs=envs
            )
            if started is None:
                return 1
            proxy, info = started
            print_info(
                f'A local proxy to the application "{app_name}" provided by the session '
                f'"{session_name}" is available at:\n'
                f"{app_url(info, host, proxy.port, protocol)}"
            )
            if host in ("0.0.0.0", "::"):
                print_warn(
                    f'NOTE: Replace "{host}" with the actual hostname you use to connect with '
                    "the CLI app proxy."
                )
            try:
                await stop.wait()
            finally:
                print_info("Shutting down....")
                await proxy.close()
            print_info(f'The local proxy to "{app_name}" has terminated.')
    except BackendError as e:
        print_error(e)
        return 1
    return 0


@click.command()
@click.argument("session_name", metavar="SESSID")
@click.argument("app_name", metavar="APP")
@click.option(
    "-b",
    "--bind",
    default=DEFAULT_BIND,
    show_default=True,
    metavar="[HOST:]PORT",
    help="The IP/host address and the port number to bind this proxy.",
)
@click.option(
    "-p",
    "--protocol",
    type=click.Choice(["http", "tcp", "preopen"]),
    default=None,
    help="The application-level protocol to use (default: the app's own).",
)
@click.option(
    "--arg",
    "args",
    multiple=True,
    metavar='"--option <value>"',
    help="Add additional argument when starting service.",
)
@click.option(
    "-e",
    "--env",
    "envs",
    multiple=True,
    metavar='"ENVNAME=envvalue"',
    help="Add additional environment variable when starting service.",
)
def app(
    session_name: str,
    app_name: str,
    bind: str,
    protocol: str | None,
    args: tuple[str, ...],
    envs: tuple[str, ...],
) -> None:
    """Run a local proxy to a service provided by Backend.AI compute sessions.

    The type of proxy depends on the app definition: plain TCP or HTTP.
    Stop it with Ctrl-C (SIGINT) or SIGTERM.

    \b
    SESSID: The compute session ID.
    APP: The name of service provided by the given session.
    """
    from backendai.client.func.session_apps import parse_app_arguments, parse_app_envs

    host, port = parse_bind(bind)
    try:
        arguments = parse_app_arguments(args)
        env_map = parse_app_envs(envs)
    except BackendError as e:
        raise click.BadParameter(str(e)) from None
    sys.exit(
        asyncio.run(serve_app(session_name, app_name, host, port, protocol, arguments, env_map))
    )


def _cell(value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}" if v in (None, "") else f"{k} ({v})" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


@click.command()
@click.argument("session_name", metavar="SESSID")
@click.argument("app_names", metavar="APP", nargs=-1)
@click.option("-l", "--list-names", is_flag=True, help="Just print all available services.")
def apps(session_name: str, app_names: tuple[str, ...], list_names: bool) -> None:
    """List the apps of a session, with the arguments and environment variables they accept.

    \b
    SESSID: The compute session ID.
    APP: The name of service provided by the given session. Repeatable.
         If none provided, this will print all available services.
    """
    from tabulate import tabulate

    from .connection import cli_session

    with cli_session() as session:
        items = session.ComputeSession(session_name).stream_app_info()
    if app_names:
        unknown = [name for name in app_names if find_app(items, name) is None]
        if unknown:
            print_fail(
                f"The session has no app named {', '.join(unknown)}.\n"
                f"Its apps are: {names_of_apps(items)}"
            )
            sys.exit(1)
        items = [item for item in items if item.get("name") in app_names]
    if list_names:
        print_info(f"This session provides the following app services: {names_of_apps(items)}")
        return
    rows = [
        [
            item.get("name"),
            item.get("protocol", "-"),
            _cell(item.get("ports")),
            _cell(item.get("allowed_arguments")),
            _cell(item.get("allowed_envs")),
            "-" if "running" not in item else ("yes" if item["running"] else "no"),
        ]
        for item in items
    ]
    headers = ["Name", "Protocol", "Ports", "Allowed arguments", "Allowed envs", "Running"]
    click.echo(tabulate(rows, headers=headers))
