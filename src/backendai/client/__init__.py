"""The Python SDK of the platform (sync and async), wire-compatible with Backend.AI's API v6.

>>> from backendai.client import Session
>>> with Session() as session:            # configured by BACKEND_* environment variables
...     print(session.System.versions())
"""

from backendai.client.config import APIConfig
from backendai.client.exceptions import (
    APIVersionWarning,
    BackendAPIError,
    BackendClientError,
    BackendError,
)
from backendai.client.session import AsyncSession, Session

__all__ = [
    "APIConfig",
    "APIVersionWarning",
    "AsyncSession",
    "BackendAPIError",
    "BackendClientError",
    "BackendError",
    "Session",
]
