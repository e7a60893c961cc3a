"""How a command gets its API session, and how failures become one ``✘`` line and exit 1."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from backendai.client import announcements
from backendai.client.config import APIConfig
from backendai.client.exceptions import BackendError

if TYPE_CHECKING:  # the SDK session (and aiohttp) is imported only when a command needs it
    from backendai.client.session import AsyncSession, Session

from .pretty import print_error, print_info


@dataclass
class CLIState:
    """Per-run state: the top-level options, and whether the announcement was shown."""

    skip_sslcert_validation: bool = False
    announced: bool = False

    def announce(self, message: str) -> None:
        """Show the server's announcement (once per run) on stderr."""
        if self.announced:
            return
        self.announced = True
        if not announcements.should_show(message):  # dismissed (`announcement dismiss`)
            return
        print_info("The server has an announcement!")
        click.echo("----------", err=True)
        click.echo(message, err=True)
        click.echo("----------", err=True)


def current_state() -> CLIState:
    ctx = click.get_current_context(silent=True)
    state = ctx.find_object(CLIState) if ctx is not None else None
    return state if state is not None else CLIState()


def load_config() -> APIConfig:
    """The configuration from the environment and the top-level options; exit 1 if invalid."""
    skip = current_state().skip_sslcert_validation
    try:
        return APIConfig.from_env(skip_sslcert_validation=True if skip else None)
    except BackendError as e:
        print_error(e)
        sys.exit(1)


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Print an SDK error as ``✘ ...`` on stderr and exit 1 (no traceback)."""
    try:
        yield
    except BackendError as e:
        print_error(e)
        sys.exit(1)


@contextmanager
def cli_session() -> Iterator[Session]:
    """An open :class:`Session`; an SDK error inside the block ends the command (exit 1)."""
    from backendai.client.session import Session

    config = load_config()
    announce = current_state().announce
    with exit_on_error(), Session(config=config, on_announcement=announce) as session:
        yield session


@asynccontextmanager
async def async_cli_session() -> AsyncIterator[AsyncSession]:
    """An open :class:`AsyncSession` (for streaming commands); SDK errors propagate."""
    from backendai.client.session import AsyncSession

    config = load_config()
    async with AsyncSession(config=config, on_announcement=current_state().announce) as session:
        yield session
