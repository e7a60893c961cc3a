"""Custom scalars: JSON values travel as JSON-encoded strings (graphene's JSONString)."""

from __future__ import annotations

import json
from typing import Any, NewType

import strawberry


def _dump(value: Any) -> str:
    return json.dumps(value)


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# A real type for annotations (mypy sees a NewType); the schema maps it to the scalar below.
JSONString = NewType("JSONString", object)

JSON_STRING_SCALAR = strawberry.scalar(
    name="JSONString",
    serialize=_dump,
    parse_value=_load,
    description="A JSON value encoded as a string.",
)


# Integers past GraphQL's 32-bit Int (sizes in bytes, timeouts), as Backend.AI's BigInt; the
# schema maps the NewType to the scalar below, as for JSONString.
BigInt = NewType("BigInt", int)

BIG_INT_SCALAR = strawberry.scalar(
    name="BigInt",
    serialize=int,
    parse_value=int,
    description="An integer that may exceed 32 bits.",
)
