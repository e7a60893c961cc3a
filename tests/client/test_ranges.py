"""Range expressions and case expansion of parametric runs (API_CONTRACT §9.14)."""

from __future__ import annotations

from decimal import Decimal

import click
import pytest

from backendai.client.cli.ranges import RANGE_EXPR, Case, TemplateError, expand_cases


@pytest.mark.parametrize(
    ("expr", "values"),
    [
        ("X=case:1,2,3,4", ("1", "2", "3", "4")),
        ("X=case:a b,c", ("a b", "c")),
        ("X=range:1,6,2", (1, 3, 5)),
        ("X=range:3", (0, 1, 2)),
        ("X=linspace:1,2,3", (Decimal("1.0"), Decimal("1.5"), Decimal("2.0"))),
        ("X=linspace:0,1,1", (Decimal("0"),)),
    ],
)
def test_range_expressions(expr: str, values: tuple[object, ...]) -> None:
    assert RANGE_EXPR.convert(expr, None, None) == ("X", values)


def test_linspace_prints_like_backend_ai() -> None:
    _, values = RANGE_EXPR.convert("X=linspace:1,2,3", None, None)
    assert [str(v) for v in values] == ["1.0", "1.5", "2.0"]


@pytest.mark.parametrize(
    "expr",
    ["X", "9X=case:1", "X-Y=case:1", "X=foo:1", "X=range:a", "X=range:1,2,3,4",
     "X=linspace:1,2", "X=linspace:1,2,0", "X=linspace:a,2,3"],
)  # fmt: skip
def test_bad_range_expressions(expr: str) -> None:
    with pytest.raises(click.BadParameter):
        RANGE_EXPR.convert(expr, None, None)


def test_no_ranges_is_one_case_with_defaults() -> None:
    assert expand_cases({"A": "1"}, None, None) == [Case((("A", "1"),), "*", "*")]


def test_env_range_needs_a_template_using_it() -> None:
    x = RANGE_EXPR.convert("X=case:1,2,3", None, None)
    # The range alone makes identical cases: only one runs (as in Backend.AI's client).
    assert len(expand_cases({}, None, None, env_ranges=[x])) == 1
    cases = expand_cases({"CASENO": "$X"}, None, None, env_ranges=[x])
    assert [c.envs for c in cases] == [(("CASENO", "1"),), (("CASENO", "2"),), (("CASENO", "3"),)]
    assert cases[0].describe() == "env = 'CASENO=1', build = '*', exec = '*'"


def test_all_combinations_in_order() -> None:
    a = RANGE_EXPR.convert("A=case:x,y", None, None)
    n = RANGE_EXPR.convert("N=range:1,3", None, None)
    b = RANGE_EXPR.convert("B=case:fast", None, None)
    cases = expand_cases(
        {"MODE": "${A}_$$"}, "make $B", "python main.py $N",
        env_ranges=[a], build_ranges=[b], exec_ranges=[n],
    )  # fmt: skip
    assert [(c.envs[0][1], c.build, c.exec) for c in cases] == [
        ("x_$", "make fast", "python main.py 1"),
        ("x_$", "make fast", "python main.py 2"),
        ("y_$", "make fast", "python main.py 1"),
        ("y_$", "make fast", "python main.py 2"),
    ]


def test_each_template_sees_only_its_own_ranges() -> None:
    n = RANGE_EXPR.convert("N=case:1", None, None)
    with pytest.raises(TemplateError, match=r"--build uses \$N"):
        expand_cases({}, "make $N", None, exec_ranges=[n])


@pytest.mark.parametrize(
    ("envs", "build", "exec_", "message"),
    [
        ({"P": "$HOME/bin"}, None, None, r"-e P uses \$HOME"),
        ({}, None, "echo $USER", r"--exec uses \$USER"),
        ({}, "cc -o $", None, "--build has an invalid"),
    ],
)
def test_template_errors(
    envs: dict[str, str], build: str | None, exec_: str | None, message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        expand_cases(envs, build, exec_)


def test_a_variable_given_twice_keeps_the_last() -> None:
    first = RANGE_EXPR.convert("X=case:1,2", None, None)
    second = RANGE_EXPR.convert("X=case:9", None, None)
    cases = expand_cases({"V": "$X"}, None, None, env_ranges=[first, second])
    assert [c.envs for c in cases] == [(("V", "9"),)]
