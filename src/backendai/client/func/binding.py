"""How one definition of an API function serves both the async and the sync session.

A function group is written once, with ``async def`` methods marked :func:`api_function`
(or :func:`api_generator` for async generators). The class is generic over its mode:

* ``KeyPair[AsyncMode]`` (on :class:`AsyncSession`): ``info()`` returns a coroutine;
* ``KeyPair[SyncMode]`` (on :class:`Session`): ``info()`` runs that coroutine on the
  session's worker loop and returns its result; generators become plain iterators.

Method bodies always talk to the server through ``self.session`` (the async session);
they must not call other marked methods through ``self``, whose type depends on the mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    Protocol,
    Self,
    TypeVar,
    overload,
)

if TYPE_CHECKING:
    from backendai.client.session import AsyncSession

__all__ = [
    "AsyncMode",
    "FunctionGroup",
    "Runner",
    "SyncMode",
    "api_function",
    "api_generator",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class AsyncMode:
    """Marker: methods return coroutines / async iterators."""


class SyncMode:
    """Marker: methods block and return results / iterators."""


M = TypeVar("M", AsyncMode, SyncMode)


class Runner(Protocol):
    """What runs coroutines for a synchronous session (its worker thread)."""

    def run(self, coro: Coroutine[Any, Any, R]) -> R: ...

    def iterate(self, agen: AsyncIterator[T]) -> Iterator[T]: ...


class FunctionGroup(Generic[M]):
    """A set of API functions bound to one session."""

    def __init__(self, session: AsyncSession, runner: Runner | None = None) -> None:
        self.session = session
        self._runner = runner


class api_function(Generic[P, R]):
    """Marks ``async def`` method of a :class:`FunctionGroup` as an API function."""

    def __init__(self, fn: Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(
        self, obj: FunctionGroup[AsyncMode], owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __get__(self, obj: FunctionGroup[SyncMode], owner: type[Any]) -> Callable[P, R]: ...

    def __get__(self, obj: FunctionGroup[Any] | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        fn = self.fn
        runner = obj._runner
        if runner is None:

            def call_async(*args: Any, **kwargs: Any) -> Coroutine[Any, Any, R]:
                return fn(obj, *args, **kwargs)

            call_async.__doc__ = fn.__doc__
            return call_async

        def call_sync(*args: Any, **kwargs: Any) -> R:
            return runner.run(fn(obj, *args, **kwargs))

        call_sync.__doc__ = fn.__doc__
        return call_sync


class api_generator(Generic[P, T]):
    """Marks an async-generator method of a :class:`FunctionGroup` as an API function."""

    def __init__(self, fn: Callable[Concatenate[Any, P], AsyncIterator[T]]) -> None:
        self.fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...

    @overload
    def __get__(
        self, obj: FunctionGroup[AsyncMode], owner: type[Any]
    ) -> Callable[P, AsyncIterator[T]]: ...

    @overload
    def __get__(
        self, obj: FunctionGroup[SyncMode], owner: type[Any]
    ) -> Callable[P, Iterator[T]]: ...

    def __get__(self, obj: FunctionGroup[Any] | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        fn = self.fn
        runner = obj._runner
        if runner is None:

            def call_async(*args: Any, **kwargs: Any) -> AsyncIterator[T]:
                return fn(obj, *args, **kwargs)

            call_async.__doc__ = fn.__doc__
            return call_async

        def call_sync(*args: Any, **kwargs: Any) -> Iterator[T]:
            return runner.iterate(fn(obj, *args, **kwargs))

        call_sync.__doc__ = fn.__doc__
        return call_sync
