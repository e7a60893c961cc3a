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
