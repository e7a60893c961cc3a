"""Options shared by ``run`` and ``start``, and the parsing of their ``KEY=VAL`` values.

The option names, metavars and defaults follow Backend.AI's client 20.09, so scripts
written for it keep working; the help texts are ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def parse_pairs(values: Iterable[str], what: str) -> dict[str, str]:
    """``["cpu=2", "mem=4g"]`` -> ``{"cpu": "2", "mem": "4g"}`` (values kept as typed)."""
    pairs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE.", param_hint=what)
        pairs[key] = value
    return pairs


def parse_mounts(values: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """Vfolder names, and their mount paths where given (``NAME=PATH`` or ``NAME:PATH``)."""
    mounts: dict[str, None] = {}
    mount_map: dict[str, str] = {}
    for value in values:
        sep = "=" if "=" in value else ":" if ":" in value else None
        name, path = value.split(sep, 1) if sep else (value, None)
        mounts[name] = None
        if path is not None:
            mount_map[name] = path
    return list(mounts), mount_map


def parse_ports(value: str | None) -> list[int]:
    """``"8000,8001"`` -> ``[8000, 8001]``. Only the syntax is checked here: which ports a
    session may open is the server's rule (it answers 400 naming the port)."""
    if not value:
        return []
    ports = []
    for item in value.split(","):
        try:
            ports.append(int(item))
        except ValueError:
            raise click.BadParameter(
                f"{item.strip()!r} in {value!r} is not a port number; write port numbers "
                "separated by commas, like 8000,8001.",
                param_hint="--preopen",
            ) from None
    return ports


def _apply(fn: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        fn = option(fn)
    return fn


def name_option(fn: F) -> F:
    return click.option(
        "-t",
        "--name",
        "--client-token",
        "name",
        metavar="NAME",
        default=None,
        help="The session's name (4-64 characters); a random pysdk-<hex> name if omitted. "
        "An existing session of yours with this name and image is reused.",
    )(fn)


def scheduling_options(*, with_startup_command: bool) -> Callable[[F], F]:
    """--type, --starts-at, [-c/--startup-command], --enqueue-only, --max-wait, --no-reuse."""

    def decorate(fn: F) -> F:
        options: list[Callable[[F], F]] = [
            click.option(
                "--type",
                "type_",
                metavar="SESSTYPE",
                type=click.Choice(["batch", "interactive"]),
                default="interactive",
                help="interactive (default) or batch.",
            ),
            click.option(
                "--starts-at",
                metavar="STARTS_AT",
                default=None,
                help="Start the (batch) session at this time: ISO-8601, or relative like 1h.",
            ),
        ]
        if with_startup_command:
            options.append(
                click.option(
                    "-c",
                    "--startup-command",
                    metavar="COMMAND",
                    default=None,
                    help="The command a batch session runs.",
                )
            )
        options += [
            click.option(
                "--enqueue-only",
                is_flag=True,
                help="Return as soon as the request is queued, without waiting for the start.",
            ),
            click.option(
                "--max-wait",
                metavar="SECONDS",
                type=click.IntRange(min=0),
                default=0,
                help="Wait at most this long for the session to start (0: no limit); if it "
                "has not started by then, return while it stays queued.",
            ),
            click.option(
                "--no-reuse",
                is_flag=True,
                help="Fail instead of reusing an existing session with the same name.",
            ),
        ]
        return _apply(fn, options)

    return decorate


def env_option(fn: F) -> F:
    return click.option(
        "-e",
        "--env",
        metavar="KEY=VAL",
        multiple=True,
        help="An environment variable of the session (repeatable).",
    )(fn)


def extra_options(fn: F) -> F:
    """--bootstrap-script and --tag."""
    return _apply(
        fn,
        [
            click.option(
                "--bootstrap-script",
                metavar="PATH",
                type=click.File("r"),
                default=None,
                help="A shell script the session runs once when it starts.",
            ),
            click.option("--tag", default=None, help="A free-form tag to annotate the session."),
        ],
    )


def resource_options(fn: F) -> F:
    """Mounts, scaling group, resources, cluster, resource options, domain, group, preopen."""
    return _apply(
        fn,
        [
            click.option(
                "-v",
                "--volume",
                "-m",
                "--mount",
                "mount",
                metavar="NAME[=PATH]",
                multiple=True,
                help="Mount this virtual folder of yours (repeatable), at /home/work/NAME "
                "or at PATH (which must be under /home/work).",
            ),
            click.option(
                "--scaling-group",
                "--sgroup",
                default=None,
                help="Run the session in this resource group (default: any allowed one).",
            ),
            click.option(
                "-r",
                "--resources",
                "--resource",
                "resources",
                metavar="KEY=VAL",
                multiple=True,
                help="A resource slot (repeatable), e.g. -r cpu=2 -r mem=4g -r cuda.shares=0.5.",
            ),
            click.option(
                "--cluster-size",
                metavar="NUMBER",
                type=int,
                default=1,
                help="The number of containers of the session.",
            ),
            click.option(
                "--cluster-mode",
                metavar="MODE",
                type=click.Choice(["single-node", "multi-node"]),
                default="single-node",
                help="Whether the containers share one node or spread over several.",
            ),
            click.option(
                "--resource-opts",
                metavar="KEY=VAL",
                multiple=True,
                help="A resource option (repeatable), e.g. shmem=64m.",
            ),
            click.option(
                "-d",
                "--domain",
                metavar="DOMAIN_NAME",
                default=None,
                help="The domain of the session (default: BACKEND_DOMAIN or 'default').",
            ),
            click.option(
                "-g",
                "--group",
                metavar="GROUP_NAME",
                default=None,
                help="The group (project) of the session, which you must belong to "
                "(default: BACKEND_GROUP or 'default').",
            ),
            click.option(
                "--preopen", default=None, help="Ports to expose, comma-separated (8000,8001)."
            ),
        ],
    )
