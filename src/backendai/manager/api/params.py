"""Reading request parameters into pydantic models, the way Backend.AI's clients send them.

The official client sends JSON bodies even on GET and DELETE, and query strings elsewhere:
a JSON body wins when present, the query string is used otherwise.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from backendai.common.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)


async def read_json_body(request: web.Request) -> Any:
    """The decoded JSON body, or None when there is none; malformed JSON is a clear 400."""
    if not request.body_exists:
        return None
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidRequest(
            f"The request body is not valid JSON ({e}). Send a JSON object with "
            "Content-Type: application/json."
        ) from e


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        fields = {
            ".".join(str(p) for p in err["loc"]) or "(body)": err["msg"] for err in e.errors()
        }
        summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise InvalidRequest(f"Invalid parameters: {summary}", data=fields) from e


async def parse_params(request: web.Request, model: type[M]) -> M:
    body = await read_json_body(request)
    if body is None:
        body = dict(request.query)
    elif not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return validate(model, body)
