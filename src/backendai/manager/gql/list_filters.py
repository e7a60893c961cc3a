"""The ``filter`` and ``order`` expressions of the paged lists (``--filter``/``--order`` of the
official client's ``admin users|keypairs|agents|sessions|vfolders``), in Backend.AI's syntax.

A filter compares named fields with values and combines the comparisons::

    email ilike "%@example.com" & (role == "admin" | status != "active")
    created_at >= "2026-11-01T00:00:00Z" & !(name in ["a", "b"])

Operators: ``== != > >= < <= like ilike contains in is isnot``, and ours ``icontains`` (the
text, any case, with no wildcards: what a search box wants); values: "strings" (JSON
escapes), numbers, ``null``, ``true``, ``false`` and ``[arrays]``. ``!`` binds tightest, then
``&``, then ``|``. An order is a comma-separated list of fields, each with an optional ``+``
(ascending, the default) or ``-`` (descending)::

    -created_at, email

Only the fields a list names can be used: each list shows what it shows, and a filter must not
reach a column it hides (a password hash, a secret key) through the answers of comparisons.
Values are converted to the field's type here, so a bad one is a clear 400 instead of an error
of the database. The parser is a small hand-written one with bounds on the length, the depth of
nesting and the number of terms: a request cannot make it recurse or build without limit.
"""

from __future__ import annotations

import enum
import json
import operator
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from backendai.common.errors import InvalidRequest
from backendai.manager.db.meta import StrEnumType

MAX_LENGTH = 4096
MAX_DEPTH = 32
MAX_TERMS = 100
MAX_ARRAY = 500
MAX_VALUES = 1000  # in all: each is a bound parameter, and SQLite takes some 32,000 at most
MAX_ORDER_FIELDS = 10
MAX_PATTERN = 256
MAX_WILDCARDS = 8


class Kind(enum.Enum):
    STR = "a string"
    INT = "a number"
    BOOL = "a boolean"
    DATETIME = "a date and time"
    UUID = "a UUID"
    ENUM = "an enum value"


# Name -> the column a filter or order may use; what values it takes follows from its type.
Fields = Mapping[str, Any]


@dataclass(frozen=True)
class Field:
    column: Any
    kind: Kind
    enum_cls: type[enum.Enum] | None = None

    @staticmethod
    def of(column: Any) -> Field:
        """The column with the kind of value its database type holds."""
        kind_of = column.type
        if isinstance(kind_of, StrEnumType):
            return Field(column, Kind.ENUM, kind_of.enum_cls)
        for sa_type, kind in _KINDS:
            if isinstance(getattr(kind_of, "impl", kind_of), sa_type):
                return Field(column, kind)
        return Field(column, Kind.STR)


_KINDS: tuple[tuple[type[Any], Kind], ...] = (
    (sa.Boolean, Kind.BOOL),
    (sa.Integer, Kind.INT),
    (sa.DateTime, Kind.DATETIME),
    (sa.Uuid, Kind.UUID),
)

_SPACE = re.compile(r"\s*")
_TOKEN = re.compile(
    r"""(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      | (?P<op>==|!=|>=|<=|>|<)
      | (?P<punct>[&|!()\[\],+-])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_WORD_OPS = {"like", "ilike", "contains", "icontains", "in", "is", "isnot"}
_ATOMS = {"null": None, "true": True, "false": False}


@dataclass(frozen=True)
class _Token:
    kind: str  # string | number | op | punct | name | end
    text: str
    at: int  # 1-based position in the expression, for the messages


def _past_space(text: str, pos: int) -> int:
    space = _SPACE.match(text, pos)
    return space.end() if space else pos


def _tokens(text: str, what: str) -> list[_Token]:
    if len(text) > MAX_LENGTH:
        raise InvalidRequest(
            f"The {what} expression is {len(text)} characters long; at most {MAX_LENGTH}."
        )
    found: list[_Token] = []
    pos = _past_space(text, 0)
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise InvalidRequest(
                f"The {what} expression has {text[pos]!r} at position {pos + 1}, "
                "which is not part of it; quote text values with double quotes."
            )
        found.append(_Token(m.lastgroup, m.group(), pos + 1))
        pos = _past_space(text, m.end())
    found.append(_Token("end", "", len(text) + 1))
    return found


def _fields_list(fields: Fields) -> str:
    return ", ".join(sorted(fields))


class _FilterParser:
    def __init__(self, text: str, fields: Fields) -> None:
        self.tokens = _tokens(text, "filter")
        self.i = 0
        self.fields = fields
        self.terms = 0
        self.values = 0

    def fail(self, message: str) -> InvalidRequest:
        token = self.tokens[self.i]
        where = "at the end" if token.kind == "end" else f"at position {token.at}"
        return InvalidRequest(f"Invalid filter {where}: {message}")

    def peek(self, text: str) -> bool:
        token = self.tokens[self.i]
        return token.kind in ("punct", "op") and token.text == text

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> ColumnElement[bool]:
        expr = self.or_expr(0)
        if self.tokens[self.i].kind != "end":
            raise self.fail(f"expected & or | before {self.tokens[self.i].text!r}.")
        return expr

    def or_expr(self, depth: int) -> ColumnElement[bool]:
        return self._joined("|", self.and_expr, sa.or_, depth)

    def and_expr(self, depth: int) -> ColumnElement[bool]:
        return self._joined("&", self.unary, sa.and_, depth)

    def _joined(
        self,
        sep: str,
        part: Callable[[int], ColumnElement[bool]],
        join: Callable[..., ColumnElement[bool]],
        depth: int,
    ) -> ColumnElement[bool]:
        parts = [part(depth)]
        while self.peek(sep):
            self.take()
            parts.append(part(depth))
        return parts[0] if len(parts) == 1 else join(*parts)

    def unary(self, depth: int) -> ColumnElement[bool]:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep.")
        if self.peek("!"):
            self.take()
            return sa.not_(self.unary(depth + 1))
        if self.peek("("):
            self.take()
            inner = self.or_expr(depth + 1)
            if not self.peek(")"):
                raise self.fail("expected ')'.")
            self.take()
            return inner
        return self.comparison()

    def comparison(self) -> ColumnElement[bool]:
        name = self.tokens[self.i]
        if name.kind != "name":
            raise self.fail("expected a field name, '!' or '('.")
        column = self.fields.get(name.text)
        if column is None:
            raise self.fail(
                f"unknown field {name.text!r}; the fields are {_fields_list(self.fields)}."
            )
        self.take()
        op = self.tokens[self.i]
        if not (op.kind == "op" or (op.kind == "name" and op.text in _WORD_OPS)):
            raise self.fail(
                f"expected an operator after {name.text} "
                "(== != > >= < <= like ilike contains icontains in is isnot)."
            )
        self.take()
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.fail(f"more than {MAX_TERMS} comparisons.")
        at = self.i
        value = self.value(0)
        self.values += len(value) if isinstance(value, list) else 1
        if self.values > MAX_VALUES:
            self.i = at
            raise self.fail(f"more than {MAX_VALUES} values in all.")
        try:
            return _compare(name.text, Field.of(column), op.text, value)
        except InvalidRequest as e:
            self.i = at
            raise self.fail(str(e)) from None

    def value(self, depth: int) -> Any:
        token = self.take()
        if token.kind == "string":
            try:
                return str(json.loads(token.text))
            except json.JSONDecodeError:
                self.i -= 1
                raise self.fail("a string with a bad escape.") from None
        if token.kind == "number":
            return float(token.text) if any(c in token.text for c in ".eE") else int(token.text)
        if token.kind == "name" and token.text in _ATOMS:
            return _ATOMS[token.text]
        if token.kind == "punct" and token.text == "[" and depth == 0:
            items: list[Any] = []
            if self.peek("]"):
                self.take()
                return items
            while True:
                items.append(self.value(depth + 1))
                if len(items) > MAX_ARRAY:
                    raise self.fail(f"an array of more than {MAX_ARRAY} values.")
                if self.peek("]"):
                    self.take()
                    return items
                if not self.peek(","):
                    raise self.fail("expected ',' or ']' in the array.")
                self.take()
        self.i -= 1
        raise self.fail(
            'expected a value: a "string", a number, null, true, false or an array [...].'
        )


def _convert(name: str, field: Field, value: Any) -> Any:
    """``value`` as the field's type, or a clear refusal."""
    if value is None:
        return None
    kind = field.kind
    if kind is Kind.BOOL:
        if isinstance(value, bool):
            return value
    elif kind is Kind.INT:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    elif isinstance(value, str):
        if kind is Kind.STR:
            return value
        if kind is Kind.DATETIME:
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                raise InvalidRequest(
                    f'{name} takes a date and time like "2026-11-30T12:00:00Z", not {value!r}.'
                ) from None
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if kind is Kind.UUID:
            try:
                return uuid.UUID(value)
            except ValueError:
                raise InvalidRequest(f"{name} takes a UUID, not {value!r}.") from None
        if kind is Kind.ENUM:
            assert field.enum_cls is not None
            for member in field.enum_cls:
                if value.lower() in (str(member.value).lower(), member.name.lower()):
                    return member
            known = ", ".join(str(m.value) for m in field.enum_cls)
            raise InvalidRequest(f"{name} is one of {known}, not {value!r}.")
    raise InvalidRequest(f"{name} takes {kind.value}, not {json.dumps(value)}.")


_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "==": operator.eq, "!=": operator.ne, ">": operator.gt,
    ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}  # fmt: skip


def _compare(name: str, field: Field, op: str, value: Any) -> ColumnElement[bool]:
    column: ColumnElement[Any] = field.column
    if op in ("is", "isnot"):
        if not any(value is atom for atom in (None, True, False)):
            raise InvalidRequest(f"'{op}' takes null, true or false.")
        if value is not None:
            value = _convert(name, field, value)
        return column.is_(value) if op == "is" else column.is_not(value)
    if op == "in":
        if not isinstance(value, list):
            raise InvalidRequest('\'in\' takes an array, like ["a", "b"].')
        return column.in_([_convert(name, field, v) for v in value])
    if isinstance(value, list):
        raise InvalidRequest(f"'{op}' takes a single value, not an array.")
    if op in ("like", "ilike", "contains", "icontains"):
        if field.kind is not Kind.STR or not isinstance(value, str):
            raise InvalidRequest(f"'{op}' compares text: a text field with a \"string\".")
        # A pattern of many wildcards makes the database backtrack (it cannot be cancelled
        # midway on SQLite): both are bounded.
        if len(value) > MAX_PATTERN:
            raise InvalidRequest(f"'{op}' takes a text of at most {MAX_PATTERN} characters.")
        if op in ("like", "ilike") and value.count("%") > MAX_WILDCARDS:
            raise InvalidRequest(f"'{op}' takes a pattern of at most {MAX_WILDCARDS} '%'.")
        if op == "contains":
            return column.contains(value, autoescape=True)
        if op == "icontains":
            return column.icontains(value, autoescape=True)
        return column.like(value) if op == "like" else column.ilike(value)
    converted = _convert(name, field, value)
    if converted is None:
        return column.is_(None) if op == "==" else column.is_not(None)
    if op not in ("==", "!=") and field.kind in (Kind.BOOL, Kind.UUID, Kind.ENUM):
        raise InvalidRequest(f"'{op}' does not order {field.kind.value}; use == or !=.")
    return _COMPARE[op](column, converted)


def parse_filter(text: str, fields: Fields) -> ColumnElement[bool]:
    """The WHERE clause of ``text``; an InvalidRequest that says where and why otherwise."""
    if not text.strip():
        return sa.true()
    return _FilterParser(text, fields).parse()


def parse_order(text: str, fields: Fields) -> list[ColumnElement[Any]]:
    """The ORDER BY terms of ``text`` ("-created_at, email")."""
    terms: list[ColumnElement[Any]] = []
    if not text.strip():
        return terms
    tokens = _tokens(text, "order")
    i = 0
    while True:
        descending = False
        if tokens[i].kind == "punct" and tokens[i].text in "+-":
            descending = tokens[i].text == "-"
            i += 1
        token = tokens[i]
        if token.kind != "name":
            raise InvalidRequest(
                f"Invalid order at position {token.at}: expected a field name, "
                'like "-created_at" or "email".'
            )
        column = fields.get(token.text)
        if column is None:
            raise InvalidRequest(
                f"Invalid order at position {token.at}: unknown field {token.text!r}; "
                f"the fields are {_fields_list(fields)}."
            )
        terms.append(column.desc() if descending else column.asc())
        if len(terms) > MAX_ORDER_FIELDS:
            raise InvalidRequest(f"An order names at most {MAX_ORDER_FIELDS} fields.")
        i += 1
        if tokens[i].kind == "end":
            return terms
        if not (tokens[i].kind == "punct" and tokens[i].text == ","):
            raise InvalidRequest(
                f"Invalid order at position {tokens[i].at}: expected ',' between fields."
            )
        i += 1


Q = TypeVar("Q", bound="sa.Select[*tuple[Any, ...]]")


def filtered(
    q: Q,
    fields: Fields,
    filter: str | None,
    order: str | None,
    default_order: Sequence[ColumnElement[Any] | Any],
) -> tuple[Q, Q]:
    """(the filtered query to count, the same ordered by ``order`` then ``default_order``,
    which makes the paging stable whatever the order asked)."""
    if filter:
        q = q.where(parse_filter(filter, fields))
    terms = parse_order(order, fields) if order else []
    return q, q.order_by(*terms, *default_order)
