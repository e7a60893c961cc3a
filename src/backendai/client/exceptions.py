"""What the SDK raises.

    BackendError                 anything this SDK raises on purpose
     ├── BackendAPIError         the server answered with a non-2xx status (or a GraphQL error)
     ├── BackendClientError      no usable answer: connection refused, timeout, bad JSON, bad config
     └── BackendAPIVersionError  the operation needs a newer server API version

``APIVersionWarning`` is a warning (not an error) issued when the server speaks a newer API.
"""

from __future__ import annotations

import json
from typing import Any

GENERIC_ERROR_TYPE = "https://api.backend.ai/probs/generic-error"
GRAPHQL_ERROR_TYPE = "https://api.backend.ai/probs/graphql-error"


class BackendError(Exception):
    """Base of every error this SDK raises on purpose."""


class BackendAPIError(BackendError):
    """The server refused the request; ``data`` is its problem JSON (RFC 7807) as a dict.

    ``data`` always has ``type`` and ``title``: a body that is not a JSON object is wrapped
    as a generic error with the raw text in ``content``.
    """

    def __init__(self, status: int, reason: str, data: Any) -> None:
        problem = _as_problem(data)
        super().__init__(status, reason, problem)
        self.status = status
        self.reason = reason
        self.data: dict[str, Any] = problem

    @property
    def title(self) -> str:
        return str(self.data.get("title", ""))

    @property
    def type(self) -> str:
        return str(self.data.get("type", ""))

    def __str__(self) -> str:
        detail = self.data.get("msg")
        text = f"{self.status} {self.reason}: {self.title}"
        return f"{text} ({detail})" if detail else text


class BackendClientError(BackendError):
    """The request could not be made or its answer could not be used."""


class BackendAPIVersionError(BackendError):
    """The operation or argument is not supported by the negotiated server API version."""


class APIVersionWarning(UserWarning):
    """The server speaks a newer API version than this client."""


def _as_problem(data: Any) -> dict[str, Any]:
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError:
            return {
                "type": GENERIC_ERROR_TYPE,
                "title": "Generic Error (could not parse error string)",
                "content": data,
            }
    if not isinstance(data, dict):
        return {
            "type": GENERIC_ERROR_TYPE,
            "title": "Generic Error (the error body is not a JSON object)",
            "content": json.dumps(data),
        }
    problem = dict(data)
    problem.setdefault("type", GENERIC_ERROR_TYPE)
    problem.setdefault("title", "Unknown error")
    return problem
