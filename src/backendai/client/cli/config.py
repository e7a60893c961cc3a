"""``backend.ai config``: what the client is configured with, and what the server runs."""

from __future__ import annotations

import click

from backendai.client import local_state
from backendai.client.config import CLIENT_VERSION
from backendai.client.exceptions import BackendError
from backendai.client.session import Session

from .connection import current_state, load_config


def _bold(text: str) -> str:
    return click.style(text, bold=True)


def mask_secret(secret: str) -> str:
    """Show the first 6 and last 10 characters of a secret key only."""
    return secret[:6] + "*" * 24 + secret[-10:]


@click.command()
def config() -> None:
    """Show the client configuration and the server's version."""
    conf = load_config()
    click.echo(
        f"API endpoint: {_bold(conf.endpoint)} "
        f"(mode: {click.style(conf.endpoint_type, fg='cyan', bold=True)})"
    )
    click.echo(f"Client version: {_bold(CLIENT_VERSION)} (API: {_bold(conf.version)})")
    session = Session(config=conf, on_announcement=current_state().announce)
    try:
        try:
            session.open()
            versions = session.System.versions()
        except BackendError:
            click.echo("Server version: (failed to fetch)")
        else:
            click.echo(
                f"Server version: {_bold(str(versions.get('manager', 'pre-19.03')))} "
                f"(API: {_bold(str(versions['version']))})"
            )
        click.echo(f"Negotiated API version: {session.api_version}")
    finally:
        session.close()
    if conf.domain:
        click.echo(f'Domain name: "{_bold(conf.domain)}"')
    if conf.group:
        click.echo(f'Group name: "{_bold(conf.group)}"')
    if conf.is_anonymous:
        click.echo("Access key: (this is an anonymous session)")
    elif conf.endpoint_type == "session":
        state = local_state.load()
        if state is not None and state.cookies:
            click.echo(f'Username: "{_bold(state.username)}"')
    else:
        click.echo(f'Access key: "{_bold(conf.access_key)}"')
        click.echo(f'Secret key: "{_bold(mask_secret(conf.secret_key))}"')
    click.echo(f"Signature hash type: {_bold(conf.hash_type)}")
    click.echo(f"Skip SSL certificate validation? {_bold(str(conf.skip_sslcert_validation))}")
