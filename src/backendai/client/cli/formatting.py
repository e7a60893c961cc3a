"""Human-readable sizes and the resource-usage table shown after a session ends (``-s``)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .pretty import print_warn

_BINARY_SUFFIXES = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def natural_size(value: float | int | str | Decimal) -> str:
    """``10`` -> ``10 Bytes``, ``1536`` -> ``1.5 KiB`` (the official client's notation)."""
    size = float(value)
    magnitude = abs(size)
    if magnitude == 1:
        return f"{int(size)} Byte"
    if magnitude < 1024:
        return f"{int(size)} Bytes"
    unit = 1024.0
    for i in range(len(_BINARY_SUFFIXES)):
        unit *= 1024
        if magnitude < unit or i == len(_BINARY_SUFFIXES) - 1:
            break
    return f"{1024 * size / unit:.1f} {_BINARY_SUFFIXES[i]}"


def format_stats(stats: Mapping[str, Any]) -> str:
    """The ``stats`` of a terminated session as a table of ``metric  value  unit`` rows.

    Version 2 stats map each metric to ``{current, capacity, unit_hint, stats.max?, pct?}``;
    values are aligned on their decimal point. Version 1 (flat numbers) is still shown.
    """
    stats = dict(stats)
    version = stats.pop("version", 1)
    stats.pop("status", None)
    if version == 1:
        from tabulate import tabulate

        return tabulate(_legacy_rows(stats))
    if version != 2:
        print_warn("Unsupported statistics result version. Upgrade your client.")
        return ""
    rows: list[list[str]] = []
    for key, metric in stats.items():
        if not isinstance(metric, Mapping):
            continue
        row = _metric_row(key, metric)
        if row is not None:
            rows.append(row)
    int_width = max((len(r[1].partition(".")[0]) for r in rows), default=0)
    frac_width = max((len(r[1].partition(".")[2]) for r in rows), default=0)
    for row in rows:
        whole, _, fraction = row[1].partition(".")
        if fraction:
            row[1] = f"{whole:>{int_width}}.{fraction:<{frac_width}}"
        else:
            row[1] = f"{whole:>{int_width}}" + " " * (frac_width + 1)
    return _tabulate_padded(rows)


def _tabulate_padded(rows: list[list[str]]) -> str:
    """A table that keeps the padding aligning the values on their decimal point."""
    import tabulate as tabulate_module
    from tabulate import tabulate

    try:
        return tabulate(rows, preserve_whitespace=True)
    except TypeError:  # tabulate < 0.10 has only the module-wide switch
        saved = tabulate_module.PRESERVE_WHITESPACE
        tabulate_module.PRESERVE_WHITESPACE = True
        try:
            return tabulate(rows)
        finally:
            tabulate_module.PRESERVE_WHITESPACE = saved


def _metric_row(key: str, metric: Mapping[str, Any]) -> list[str] | None:
    unit = str(metric.get("unit_hint", ""))
    value: Any
    if unit == "bytes":
        amount, unit = natural_size(metric.get("stats.max", metric.get("current", 0))).split()
        value = f"{_decimal(amount):,}"
    elif unit == "msec":
        value = f"{_decimal(metric.get('current')):,}"
    elif unit == "percent":
        value, unit = metric.get("pct"), "%"
    else:
        value, unit = metric.get("current"), ""
    if value is None:
        return None
    return [key, str(value), unit]


def _legacy_rows(stats: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in stats.items():
        if key in ("precpu_used", "precpu_system_used", "cpu_system_used"):
            continue
        if key.endswith(("_size", "_bytes")):
            rows.append((key, natural_size(value)))
        elif key == "cpu_used":
            rows.append((key + "_msec", f"{int(value):,}"))
        else:
            rows.append((key, f"{int(value):,}"))
    return rows


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
