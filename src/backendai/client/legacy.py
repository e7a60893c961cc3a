"""The session-less style of Backend.AI's first SDKs, on an implicit default session::

    from backendai.client.legacy import Kernel

    kern = Kernel.get_or_create("python:3.9-ubuntu20.04", client_token="abc")
    result = kern.execute('print("hello world")', mode="query")
    print(result["console"])
    kern.destroy()

``AsyncKernel`` is the same with coroutines (plus ``stream_pty()``). The default session
is configured from ``BACKEND_*`` like any other; the synchronous one is closed at exit,
the asynchronous one (one per event loop) by ``await AsyncKernel.close()``. New code
should open a :class:`~backendai.client.Session` explicitly instead.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import weakref
from typing import Any

from backendai.client.func.binding import AsyncMode, SyncMode
from backendai.client.func.compute_session import ComputeSession
from backendai.client.session import AsyncSession, Session

__all__ = ["AsyncKernel", "Kernel"]

_lock = threading.Lock()
_default: Session | None = None
_async_defaults: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncSession] = (
    weakref.WeakKeyDictionary()
)


def default_session() -> Session:
    """The process-wide synchronous session, opened on first use."""
    global _default
    with _lock:
        if _default is None or _default.closed:
            session = Session()
            session.open()
            atexit.register(session.close)
            _default = session
        return _default


async def default_async_session() -> AsyncSession:
    """The asynchronous session of the running event loop, opened on first use."""
    loop = asyncio.get_running_loop()
    session = _async_defaults.get(loop)
    if session is None:
        session = AsyncSession()
        await session.open()
        _async_defaults[loop] = session
    return session


def _name_kwargs(client_token: str | None, kwargs: dict[str, Any]) -> dict[str, Any]:
    # client_token is what the first SDKs called the session name.
    if client_token is not None:
        kwargs.setdefault("name", client_token)
    return kwargs


class Kernel:
    """``Kernel.get_or_create(...)`` returning a blocking session object."""

    @staticmethod
    def get_or_create(
        image: str, *, client_token: str | None = None, **kwargs: Any
    ) -> ComputeSession[SyncMode]:
        return default_session().ComputeSession.get_or_create(
            image, **_name_kwargs(client_token, kwargs)
        )


class AsyncKernel:
    """``await AsyncKernel.get_or_create(...)`` returning a session object of coroutines."""

    @staticmethod
    async def get_or_create(
        image: str, *, client_token: str | None = None, **kwargs: Any
    ) -> ComputeSession[AsyncMode]:
        session = await default_async_session()
        return await session.ComputeSession.get_or_create(
            image, **_name_kwargs(client_token, kwargs)
        )

    @staticmethod
    async def close() -> None:
        """Close the running loop's default session."""
        session = _async_defaults.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()
