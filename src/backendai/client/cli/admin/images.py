"""``admin images``, ``admin rescan-images``, ``admin alias-image``, ``admin dealias-image``
(as Backend.AI's client 20.9.9 words them) and ``admin delete-image`` (a private image)."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..connection import cli_session
from ..pretty import print_done, print_fail, print_info, print_warn
from .mutating import check_ok, failing_as

FIELDS = [
    ("Name", "name"),
    ("Registry", "registry"),
    ("Tag", "tag"),
    ("Digest", "digest"),
    ("Size", "size_bytes"),
    ("Aliases", "aliases"),
]
OWNER = ("Owner", "owner")


@click.command()
@click.option("--operation", is_flag=True, help="Get operational images only")
def images(operation: bool) -> None:
    """
    Show the list of registered images in this cluster.
    """
    from tabulate import tabulate

    with cli_session() as session:
        items = session.Image.list(
            operation=operation, fields=[key for _, key in FIELDS] + [OWNER[1]]
        )
    if not items:
        print_warn("There are no registered images.")
        return
    # The official client's columns; an Owner column where private images are listed.
    columns = [*FIELDS, OWNER] if any(item.get("owner") for item in items) else FIELDS
    rows: list[list[Any]] = [[item.get(key) for _, key in columns] for item in items]
    click.echo(tabulate(rows, headers=[label for label, _ in columns], floatfmt=",.0f"))


@click.command()
@click.option(
    "-r",
    "--registry",
    type=str,
    default=None,
    help='The name (usually hostname or "lablup") of the Docker registry configured.',
)
def rescan_images(registry: str | None) -> None:
    """
    Update the kernel image metadata from all configured docker registries.
    """
    with cli_session() as session, failing_as("Registry scanning"):
        result = session.Image.rescan_images(registry)
    if not result.get("ok"):
        print_fail(f"Failed to begin registry scanning: {result.get('msg')}")
        sys.exit(1)
    print_done("Started updating the image metadata from the configured registries.")
    print_info(str(result.get("msg")))
    print_done("Finished registry scanning.")


@click.command()
@click.argument("alias", type=str)
@click.argument("target", type=str)
def alias_image(alias: str, target: str) -> None:
    """Add an image alias."""
    with cli_session() as session, failing_as("Aliasing"):
        result = session.Image.alias_image(alias, target)
    check_ok(result, "Aliasing")
    print_done(f"An alias has created: {alias} -> {target}")


@click.command()
@click.argument("alias", type=str)
def dealias_image(alias: str) -> None:
    """Remove an image alias."""
    with cli_session() as session, failing_as("Dealiasing"):
        result = session.Image.dealias_image(alias)
    check_ok(result, "Dealiasing")
    print_done(f"The alias has been removed: {alias}")


@click.command()
@click.argument("reference", type=str)
def delete_image(reference: str) -> None:
    """Remove a private image (a committed session) from the agents and the platform.

    REFERENCE: the image's full name (private/<owner>/<name>:<tag>).
    """
    with cli_session() as session, failing_as("Image removal"):
        result = session.Image.delete_image(reference)
    check_ok(result, "Image removal")
    print_done(f"The image has been removed: {reference}")
