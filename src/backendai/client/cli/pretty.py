"""Status lines on stderr (``∙ ⋯ ✔ ✘``) and the error printer, in Backend.AI's CLI style.

Each status line is cleared first and ends with ``\\r`` before the newline, so a
``⋯`` waiting line can be overwritten by the next one. Colors are dropped when stderr
is not a terminal (click does that).
"""

from __future__ import annotations

import enum
import sys
import textwrap
from collections.abc import Iterator
from typing import IO, Any

import click

from backendai.client.exceptions import BackendAPIError, BackendError


class Status(enum.Enum):
    INFO = ("\u2219", "bright_cyan")
    WAITING = ("\u22ef", "bright_yellow")
    DONE = ("\u2714", "bright_green")
    FAILED = ("\u2718", "bright_red")
    WARNING = ("\u2219", "yellow")


def _indicator(status: Status) -> str:
    symbol, color = status.value
    return click.style(symbol, fg=color, reset=False)


def print_pretty(msg: str, status: Status = Status.INFO, *, file: IO[str] | None = None) -> None:
    out = file if file is not None else sys.stderr
    if status is Status.WAITING and "\n" in msg:
        raise ValueError("A waiting message must be a single line.")
    click.echo("\x1b[2K", nl=False, file=out)
    text = click.style(_indicator(status) + textwrap.indent(msg, "  ")[1:], reset=True)
    click.echo(f"{text}\r", nl=False, file=out)
    if status is not Status.WAITING:
        click.echo("", file=out)
    out.flush()


def print_info(msg: str) -> None:
    print_pretty(msg, Status.INFO)


def print_wait(msg: str) -> None:
    print_pretty(msg, Status.WAITING)


def print_done(msg: str) -> None:
    print_pretty(msg, Status.DONE)


def print_warn(msg: str) -> None:
    print_pretty(msg, Status.WARNING)


def print_fail(msg: str) -> None:
    print_pretty(msg, Status.FAILED)


def format_error(exc: BaseException) -> Iterator[str]:
    """The text of an error: status and title, then what the problem JSON adds."""
    if not isinstance(exc, BackendAPIError):
        name = type(exc).__name__
        detail = str(exc) if isinstance(exc, BackendError) else (exc.args[0] if exc.args else "")
        yield f"{name}: {detail}"
        return
    data = exc.data
    kind = str(data.get("type", ""))
    extra: Any = data.get("data")
    yield f"{type(exc).__name__}: {exc.status} {exc.reason}\n"
    yield str(data.get("title", ""))
    if kind.endswith("/too-many-sessions-matched"):
        matches = extra.get("matches", []) if isinstance(extra, dict) else []
        if matches:
            yield "\nCandidates (up to 10 recent entries):\n"
        for item in matches:
            yield f"- {item.get('id')} ({item.get('name')}, {item.get('status')})\n"
    elif kind.endswith("/session-already-exists"):
        existing = extra.get("existingSessionId") if isinstance(extra, dict) else None
        if existing is not None:
            yield f"\n- Existing session ID: {existing}"
    elif kind.endswith("/invalid-api-params"):
        if data.get("msg") is not None:
            yield f"\n- {data['msg']}"
        if isinstance(extra, dict):
            for key, value in extra.items():
                yield f'\n- "{key}": {value}'
        elif extra is not None:
            yield f"\n- {extra}"
    elif kind.endswith("/graphql-error"):
        yield "\n\u279c Error details:\n"
        for item in extra if isinstance(extra, list) else []:
            yield f"{item.get('message') if isinstance(item, dict) else item}\n"
    elif data.get("msg"):
        yield f"\n\u279c Error details: {data['msg']}"
    agent_details = data.get("agent-details")
    if isinstance(agent_details, dict):
        yield "\n\u279c This is an agent-side error. "
        yield "Check the agent status or ask the administrator for help."
        for key in ("exception", "title"):
            if agent_details.get(key) is not None:
                yield f"\n\u279c {agent_details[key]}"
    if data.get("content"):
        yield f"\n{data['content']}"


def print_error(exc: BaseException, *, file: IO[str] | None = None) -> None:
    """``✘ BackendAPIError: 401 Unauthorized`` + title + details, on stderr."""
    out = file if file is not None else sys.stderr
    if out.isatty():
        click.echo("\x1b[2K", nl=False, file=out)
    text = textwrap.indent("".join(format_error(exc)), "  ")
    text = click.style(_indicator(Status.FAILED) + text[1:], reset=True)
    click.echo(f"{text}\r", nl=False, file=out)
    click.echo("", file=out)
    out.flush()


def report_unready_session(label: object, status: str | None) -> bool:
    """Say why a session that is not RUNNING is not used; False when ``status`` is none of
    the states this knows (the caller words that one itself)."""
    if status == "PENDING":
        print_info(f"Session ID {label} is enqueued for scheduling.")
    elif status == "SCHEDULED":
        print_info(f"Session ID {label} is scheduled and about to be started.")
    elif status == "TERMINATED":
        print_warn(
            f"Session ID {label} is already terminated.\n"
            "This may be an error in the compute_session image."
        )
    elif status == "TIMEOUT":
        print_info(f"Session ID {label} is still on the job queue.")
    elif status in ("ERROR", "CANCELLED"):
        print_fail(f"Session ID {label} has an error during scheduling/startup or cancelled.")
    else:
        return False
    return True


def describe_end(status_info: str | None, status_data: Any) -> str | None:
    """Why a session ended, from its ``statusInfo`` and ``statusData`` (the error's reason
    and message, e.g. a failed bootstrap script's output, or a batch task's exit code)."""
    parts: list[str] = []
    error = status_data.get("error") if isinstance(status_data, dict) else None
    if isinstance(error, dict):
        reason = error.get("reason") or status_info
        if reason:
            parts.append(f"Reason: {reason}")
        if error.get("message"):
            parts.append(str(error["message"]).rstrip("\n"))
    elif error:
        parts.append(str(error).rstrip("\n"))
    elif status_info:
        parts.append(f"Reason: {status_info}")
    exit_code = status_data.get("exit_code") if isinstance(status_data, dict) else None
    if exit_code is not None:
        parts.append(f"Exit code: {exit_code}")
    return "\n".join(parts) or None


def sure_or_abort() -> bool:
    """Client 20.9.9's "Are you sure? (y/[n])" on stderr, answered on stdin: only "y" goes
    on; anything else says "Aborting." and the command ends (with 0, as 20.9.9's does)."""
    print_warn("Are you sure? (y/[n])")
    if sys.stdin.readline().strip() == "y":
        return True
    print_info("Aborting.")
    return False
