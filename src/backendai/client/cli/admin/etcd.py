"""``admin etcd get/set/delete``: the platform's shared configuration (superadmin)."""

from __future__ import annotations

import json
from typing import Any

import click

from ..connection import cli_session
from ..pretty import print_fail, print_pretty


@click.group()
def etcd() -> None:
    """List and manage ETCD configurations. (admin privilege required)"""


@etcd.command()
@click.argument("key", type=str, metavar="KEY")
@click.option(
    "-p", "--prefix", is_flag=True, default=False, help="Get all keys prefixed with the given key."
)
def get(key: str, prefix: bool) -> None:
    """Get a ETCD value(s).

    KEY: Name of ETCD key.
    """
    with cli_session() as session:
        data = session.EtcdConfig.get(key, prefix)
    print_pretty(json.dumps(data, indent=2) if data else "null")


@etcd.command(name="set")
@click.argument("key", type=str, metavar="KEY")
@click.argument("value", type=str, metavar="VALUE")
def set_(key: str, value: str) -> None:
    """Set new key and value on ETCD.

    KEY: Name of ETCD key. VALUE: Value to set.
    """
    parsed: Any = value
    try:
        parsed = json.loads(value)
        print_pretty("Value converted to a dictionary.")
    except json.JSONDecodeError:
        pass
    with cli_session() as session:
        result = session.EtcdConfig.set(key, parsed)
    if result.get("result") != "ok":
        print_fail("Unable to set key/value.")
        raise SystemExit(1)
    print_pretty("Successfully set key/value.")


@etcd.command()
@click.argument("key", type=str, metavar="KEY")
@click.option(
    "-p", "--prefix", is_flag=True, default=False,
    help="Delete all keys prefixed with the given key.",
)  # fmt: skip
def delete(key: str, prefix: bool) -> None:
    """Delete key(s) from ETCD.

    KEY: Name of ETCD key.
    """
    with cli_session() as session:
        result = session.EtcdConfig.delete(key, prefix)
    if result.get("result") != "ok":
        print_fail("Unable to delete key/value.")
        raise SystemExit(1)
    print_pretty("Successfully deleted key/value.")
