"""Validation of any payload (a REST body, a GraphQL input) into pydantic models, with the
errors a person can act on: text every database can store (no NUL, no unpaired surrogate),
and each invalid field named with what was wrong. Below the edge, so GraphQL and REST share it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from backendai.common.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)


def check_text(value: Any) -> None:
    """Refuse NUL characters and unpaired surrogates in any string (or key) of ``value``."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:  # not recursive: the decoder allows more nesting than Python's stack
        where, item = stack.pop()
        if isinstance(item, str):
            _check_string(where, item)
        elif isinstance(item, dict):
            for key, sub in item.items():
                path = f"{where}.{key}" if where else str(key)
                stack.append((f"a key in {where}" if where else "a key of the body", key))
                stack.append((path, sub))
        elif isinstance(item, list):
            stack.extend((f"{where}.{i}" if where else str(i), sub) for i, sub in enumerate(item))


def _check_string(where: str, text: str) -> None:
    field = f"The text of {_cut(where)}" if where else "The text"
    if "\x00" in text:
        raise InvalidRequest(
            f"{field} contains a NUL character (\\u0000), which no field accepts; remove it.",
            data={_cut(where) or "(body)": "contains a NUL character"},
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidRequest(
            f"{field} contains an unpaired UTF-16 surrogate (an escape in \\ud800-\\udfff "
            "without its pair); send valid Unicode text.",
            data={_cut(where) or "(body)": "contains an unpaired surrogate"},
        ) from e


def _cut(where: str) -> str:
    """A field path for a message; a path made of hostile keys is cut short and made safe."""
    shown = where.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
    shown = shown.replace("\x00", "\\u0000")
    return shown if len(shown) <= 80 else shown[:80] + "..."


def validate(model: type[M], data: Any) -> M:
    check_text(data)
    return validated(model, data)


def validated(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        fields = {
            ".".join(str(p) for p in err["loc"]) or "(body)": _message(err["type"], err["msg"])
            for err in e.errors()
        }
        summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise InvalidRequest(f"Invalid parameters: {summary}", data=fields) from e


def _message(kind: str, msg: str) -> str:
    # Our own validators word their messages for people; pydantic prefixes them.
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    return msg
