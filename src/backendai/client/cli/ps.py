"""``backend.ai ps``: your own compute sessions (``admin sessions`` without --access-key)."""

from __future__ import annotations

import click

from .admin.sessions import list_options, list_sessions


@click.command()
@list_options(with_access_key=False)
def ps(
    status: str | None,
    name_only: bool,
    dead: bool,
    running: bool,
    detail: bool,
    format_: str | None,
    filter_: str | None,
    order: str | None,
    plain: bool,
) -> None:
    """List the compute sessions of your keypair (without options: those not yet terminated).

    This is the same as "admin sessions" for your own sessions.
    """
    list_sessions(
        status=status, access_key=None, name_only=name_only, dead=dead, running=running,
        detail=detail, format_=format_, filter_=filter_, order=order, plain=plain,
    )  # fmt: skip
