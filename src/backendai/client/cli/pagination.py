"""Paged table output: one screenful per query, pausing on a terminal.

The first chunk of a table has the header; later chunks are tabulated on their own without
it, like Backend.AI's CLI (so column widths may differ between chunks). When stdout is not
a terminal the page height is 20 lines (``LINES`` overrides it).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import click

from backendai.client.func.pagination import MAX_PAGE_SIZE

Item = dict[str, Any]
Field = tuple[str, str]  # (header, GraphQL field)


def terminal_lines() -> int:
    return shutil.get_terminal_size((80, 20)).lines


def preferred_page_size() -> int:
    return max(1, min(MAX_PAGE_SIZE, terminal_lines()))


def tabulate_items(
    items: Iterable[Item],
    fields: Sequence[Field],
    *,
    item_formatter: Callable[[Item], None] | None = None,
    plain: bool = False,
) -> Iterator[str]:
    """Lines of a table of ``items`` (values in the server's key order), chunk by chunk."""
    from tabulate import tabulate

    header_height = 0 if plain else 2
    table_height = terminal_lines()
    chunk_size = max(table_height - header_height - 1, 10)
    buffered: list[Item] = []
    is_first = True

    def flush() -> Iterator[str]:
        table = tabulate(
            [list(item.values()) for item in buffered],
            headers=[] if plain else [header for header, _ in fields],
            tablefmt="plain" if plain else "simple",
        )
        rows = table.splitlines()
        yield from (row + "\n" for row in (rows if is_first else rows[header_height:]))

    for item in items:
        if item_formatter is not None:
            item_formatter(item)
        buffered.append(item)
        if len(buffered) == chunk_size:
            yield from flush()
            buffered.clear()
            is_first = False
            chunk_size = max(table_height - 1, 10)
    if buffered:
        yield from flush()


def echo_via_pager(lines: Iterable[str]) -> int:
    """Print ``lines``, pausing after each screenful on a terminal; returns lines printed.

    At the ``:`` prompt, ``q`` stops (so no further pages are queried); any other key goes on.
    """
    height = terminal_lines()
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    count = 0
    on_screen = 0
    for text in lines:
        click.echo(text, nl=False)
        count += 1
        on_screen += text.count("\n")
        if on_screen >= height - 1:
            on_screen = 0
            if interactive:
                click.echo(":", nl=False)
                key = click.getchar(echo=False)
                click.echo("\r\x1b[2K", nl=False)
                if key in ("q", "Q"):
                    break
    return count
