"""What the admin commands that change things share: a refusal printed as Backend.AI's client
words it (``✗ User creation has failed: <why>``), and its "Are you sure?" before a purge."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import click

from backendai.client.exceptions import BackendAPIError

from ..pretty import print_fail, print_info


def _reasons(error: BackendAPIError) -> str:
    items = error.data.get("data")
    messages = [
        str(item.get("message"))
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
    ]
    return "; ".join(messages) or str(error.data.get("msg") or error.title)


@contextmanager
def failing_as(what: str) -> Iterator[None]:
    """A mutation refused by the server (a GraphQL error) ends the command: ``✗ <what> has
    failed: <the server's reason>`` and exit 1. Other errors pass to ``cli_session``."""
    try:
        yield
    except BackendAPIError as e:
        if not e.type.endswith("/graphql-error"):
            raise
        print_fail(f"{what} has failed: {_reasons(e)}")
        sys.exit(1)


def check_ok(answer: Mapping[str, Any], what: str) -> None:
    """An answer with ``ok: false`` (Backend.AI's way to refuse) ends the command alike."""
    if not answer.get("ok"):
        print_fail(f"{what} has failed: {answer.get('msg')}")
        sys.exit(1)


def confirmed(prompt: str = "Are you sure?") -> bool:
    """Ask ``prompt [Y/n]`` until the answer is yes or no; "Cancelled" when it is no."""
    while True:
        try:
            reply = input(f"{prompt} [Y/n] ").strip().lower() or "y"
        except EOFError:
            reply = "n"
        if reply in ("y", "yes", "n", "no"):
            break
        click.echo("Please answer in y/yes/n/no.")
    if reply.startswith("n"):
        print_info("Cancelled")
        return False
    return True
