"""``run --*-range`` options: the click type over ``common.sweep_ranges`` (the expressions
and the cases they expand into are shared with the manager's server-side sweeps)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from backendai.common.sweep_ranges import (
    Case,
    RangeError,
    RangeSpec,
    RangeValue,
    TemplateError,
    expand_cases,
    linspace,
    parse_range,
)

if TYPE_CHECKING:  # click >= 8.2 types ParamType by its value; older ones cannot subscript it
    _ParamTypeBase = click.ParamType[RangeSpec]
else:
    _ParamTypeBase = click.ParamType


class RangeExpr(_ParamTypeBase):
    """``VAR=case:A,B,...`` | ``VAR=linspace:START,STOP,NUM`` | ``VAR=range:START,STOP[,STEP]``."""

    name = "Range Expression"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> RangeSpec:
        if isinstance(value, tuple):
            return value  # already converted (defaults)
        try:
            return parse_range(str(value))
        except RangeError as e:
            self.fail(str(e), param, ctx)


RANGE_EXPR = RangeExpr()

__all__ = [
    "RANGE_EXPR",
    "Case",
    "RangeExpr",
    "RangeSpec",
    "RangeValue",
    "TemplateError",
    "expand_cases",
    "linspace",
]
