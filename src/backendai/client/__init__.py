"""The Python SDK of the platform (sync and async), wire-compatible with Backend.AI's API v6.

>>> from backendai.client import Session
>>> with Session() as session:            # configured by BACKEND_* environment variables
...     print(session.System.versions())

The session classes (and aiohttp under them) are imported on first use, so that importing a
submodule such as ``backendai.client.config`` stays cheap (the CLI's start-up time).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from backendai.client.config import APIConfig
from backendai.client.exceptions import (
    APIVersionWarning,
    BackendAPIError,
    BackendClientError,
    BackendError,
)

if TYPE_CHECKING:
    from backendai.client.func.compute_session import ComputeSession
    from backendai.client.func.session_streams import SSEMessage, StreamPty
    from backendai.client.legacy import AsyncKernel, Kernel
    from backendai.client.session import AsyncSession, Session

__all__ = [
    "APIConfig",
    "APIVersionWarning",
    "AsyncKernel",
    "AsyncSession",
    "BackendAPIError",
    "BackendClientError",
    "BackendError",
    "ComputeSession",
    "Kernel",
    "SSEMessage",
    "Session",
    "StreamPty",
]

_LAZY = {
    "ComputeSession": "backendai.client.func.compute_session",
    "SSEMessage": "backendai.client.func.session_streams",
    "StreamPty": "backendai.client.func.session_streams",
    "AsyncKernel": "backendai.client.legacy",
    "Kernel": "backendai.client.legacy",
    "AsyncSession": "backendai.client.session",
    "Session": "backendai.client.session",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
