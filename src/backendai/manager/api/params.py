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
from pydantic import BaseModel

from backendai.common.errors import InvalidRequest
from backendai.manager.validation import check_text as check_text
from backendai.manager.validation import validate as validate
from backendai.manager.validation import validated

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


async def parse_params(request: web.Request, model: type[M]) -> M:
    body = await read_json_body(request)  # its text is checked
    if body is None:
        return validate(model, dict(request.query))
    if not isinstance(body, dict):
        raise InvalidRequest(f"The request body must be a JSON object. {_JSON_HOW}")
    return validated(model, body)
