"""Reading request parameters into pydantic models, the way Backend.AI's clients send them.

The official client sends JSON bodies even on GET and DELETE, and query strings elsewhere:
a JSON body wins when present, the query string is used otherwise.

Whatever arrives is checked here before any model sees it, so that no handler meets input that
fails deeper down with a 500: strict JSON (no ``NaN``/``Infinity``, not nested past what the
decoder can take), and text that every database can store (no NUL character, which
PostgreSQL refuses in text columns, and no unpaired UTF-16 surrogate from a ``\\ud800`` escape,
which cannot be encoded at all).
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from backendai.common.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)

_JSON_HOW = "Send a JSON object with Content-Type: application/json."
# \u0000 and \ud800-\udfff: a JSON body without them has no text check_text would refuse.
_ESCAPES = re.compile(rb"\\u(?:0000|d[89a-f])", re.IGNORECASE)


def _no_constant(name: str) -> NoReturn:
    raise InvalidRequest(f"The request body is not valid JSON: {name} is not a JSON value.")


async def read_json_body(request: web.Request) -> Any:
    """The decoded JSON body, or None when there is none; malformed JSON is a clear 400."""
    if not request.body_exists:
        return None
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidRequest(f"The request body is not valid JSON ({e}). {_JSON_HOW}") from e
    except RecursionError as e:
        raise InvalidRequest(f"The request body is nested too deeply. {_JSON_HOW}") from e
    if _ESCAPES.search(raw):  # JSON text can carry either only as an escape
        check_text(body)
    return body


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
    return _validated(model, data)


def _validated(model: type[M], data: Any) -> M:
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


async def parse_params(request: web.Request, model: type[M]) -> M:
    body = await read_json_body(request)  # its text is checked
    if body is None:
        return validate(model, dict(request.query))
    if not isinstance(body, dict):
        raise InvalidRequest(f"The request body must be a JSON object. {_JSON_HOW}")
    return _validated(model, body)
