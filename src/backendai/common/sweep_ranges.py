"""Parametric runs: range expressions and the cases they expand into.

``X=case:1,2,3`` defines variable ``X`` with three values; ``-e 'CASENO=$X'``, ``--build``
and ``--exec`` values are ``string.Template`` text filled from those variables. Every
combination of the values of all ranges is a case; cases that come out identical (e.g. a range
no template uses) are run once. As in Backend.AI's client, ``$NAME`` with no such range
variable is an error even without ranges; ``$$`` is a literal ``$``.

Shared by the client (``run --env-range``, expanded locally) and the manager (server-side
sweeps, expanded there), so both give the same cases in the same order.
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_KEY_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# A sweep's combinations are bounded before they are made (a product of ranges explodes).
MAX_RANGE_VALUES = 10_000

RangeValue = str | int | Decimal
RangeSpec = tuple[str, tuple[RangeValue, ...]]


class RangeError(ValueError):
    """A range expression that cannot be used, with what is wrong and how to write it."""


class TemplateError(Exception):
    """A ``$`` placeholder that no range variable fills."""


def linspace(start: Decimal, stop: Decimal, num: int) -> tuple[Decimal, ...]:
    """``num`` evenly spaced values from ``start`` to ``stop``, both included.

    The arithmetic is Backend.AI's (``start + step * i`` in Decimal), so the values print
    the same way there: ``linspace:1,2,3`` gives ``1.0``, ``1.5``, ``2.0``.
    """
    if num == 1:
        return (start,)
    step = (stop - start) / (num - 1)
    return tuple(start + step * Decimal(i) for i in range(num))


def _too_many(expr: str, count: int) -> RangeError:
    return RangeError(f"{expr!r} has {count} values; at most {MAX_RANGE_VALUES} are allowed.")


def parse_range(value: str) -> RangeSpec:
    """``VAR=case:A,B,...`` | ``VAR=linspace:START,STOP,NUM`` | ``VAR=range:START,STOP[,STEP]``."""
    key, sep, expr = value.partition("=")
    if not sep:
        raise RangeError(f"{value!r} is not VAR=EXPRESSION.")
    if not _KEY_RE.match(key):
        raise RangeError(f"{key!r} is not a valid variable name.")
    kind, _, args = expr.partition(":")
    try:
        if kind == "case":
            values = tuple(args.split(","))
            if len(values) > MAX_RANGE_VALUES:
                raise _too_many(expr, len(values))
            return key, values
        if kind == "linspace":
            start, stop, num = args.split(",")
            points = int(num)
            if points < 1:
                raise RangeError(
                    f"Invalid linspace expression {expr!r}: it needs at least one point "
                    "(linspace:START,STOP,POINTS with POINTS >= 1)."
                )
            if points > MAX_RANGE_VALUES:
                raise _too_many(expr, points)
            return key, linspace(Decimal(start), Decimal(stop), points)
        if kind == "range":
            bounds = [int(arg) for arg in args.split(",")]
            if not 1 <= len(bounds) <= 3:
                raise ValueError("range takes START,STOP[,STEP]")
            if len(bounds) == 3 and bounds[2] == 0:
                raise RangeError(
                    f"Invalid range expression {expr!r}: its step must not be zero "
                    "(range:START,STOP,STEP as in Python's range())."
                )
            values_range = range(*bounds)
            if len(values_range) > MAX_RANGE_VALUES:
                raise _too_many(expr, len(values_range))
            return key, tuple(values_range)
    except RangeError:
        raise
    except (ValueError, InvalidOperation) as e:
        raise RangeError(f"Invalid {kind} expression {expr!r}: {e}") from e
    raise RangeError(
        f"Unrecognized range expression type in {expr!r} (use case:, linspace: or range:)."
    )


@dataclass(frozen=True)
class Case:
    """One parametric case: the environment and the build/exec commands to use."""

    envs: tuple[tuple[str, str], ...]
    build: str
    exec: str

    def describe(self) -> str:
        """``env = 'K=V', build = '*', exec = '...'`` (printed for multi-case runs)."""
        pretty_env = " ".join(f"{k}={v}" for k, v in self.envs)
        return f"env = {pretty_env!r}, build = {self.build!r}, exec = {self.exec!r}"


def _product(ranges: Sequence[RangeSpec]) -> list[dict[str, RangeValue]]:
    merged = dict(ranges)  # a variable given twice: the last definition wins
    return [
        dict(zip(merged, values, strict=True)) for values in itertools.product(*merged.values())
    ]


def count_combinations(*groups: Sequence[RangeSpec]) -> int:
    """How many combinations ``expand_cases`` would go through (before de-duplication)."""
    total = 1
    for ranges in groups:
        for values in dict(ranges).values():
            total *= len(values)
    return total


def _fill(what: str, template: str, variables: Mapping[str, RangeValue]) -> str:
    try:
        return string.Template(template).substitute(variables)
    except KeyError as e:
        raise TemplateError(
            f"{what} uses ${e.args[0]}, but no range defines it (write $$ for a literal $)."
        ) from None
    except ValueError as e:
        raise TemplateError(f"{what} has an invalid $ placeholder: {e}") from None


def expand_cases(
    envs: Mapping[str, str],
    build: str | None,
    exec_: str | None,
    *,
    env_ranges: Sequence[RangeSpec] = (),
    build_ranges: Sequence[RangeSpec] = (),
    exec_ranges: Sequence[RangeSpec] = (),
) -> list[Case]:
    """Every distinct case, in order; build/exec default to ``*`` (the image's heuristic)."""
    cases: dict[Case, None] = {}
    for env_vars, build_vars, exec_vars in itertools.product(
        _product(env_ranges), _product(build_ranges), _product(exec_ranges)
    ):
        filled_envs = tuple((k, _fill(f"-e {k}", v, env_vars)) for k, v in envs.items())
        filled_build = _fill("--build", build, build_vars) if build else "*"
        filled_exec = _fill("--exec", exec_, exec_vars) if exec_ else "*"
        cases[Case(filled_envs, filled_build, filled_exec)] = None
    return list(cases)
