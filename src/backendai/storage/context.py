"""What every handler of the storage app shares: volumes, the thread pool, tokens, usage."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from backendai.common.errors import NotFound, VFolderQuotaExceeded
from backendai.storage.settings import StorageSettings
from backendai.storage.tokens import TokenSigner
from backendai.storage.volumes import Volume

T = TypeVar("T")
MAX_ENDED_UPLOADS = 10_000
USAGE_MAX_AGE_S = 2.0  # a PATCH sees usage at most this old: a full walk per chunk costs too much


class UsageCache:
    """Folder and volume usage, computed in the pool; a stale value is served while one
    refresh runs in the background, so an upload's quota check never waits on a walk."""

    def __init__(self, ctx: StorageContext) -> None:
        self._ctx = ctx
        self._values: dict[Hashable, tuple[float, int]] = {}
        self._refreshing: dict[Hashable, asyncio.Task[int]] = {}

    async def _compute(self, key: Hashable, fn: Callable[[], int]) -> int:
        value = await self._ctx.run(fn)
        self._values[key] = (time.monotonic(), value)
        return value

    async def get(self, key: Hashable, fn: Callable[[], int], *, fresh: bool = False) -> int:
        cached = self._values.get(key)
        if fresh or cached is None:
            return await self._compute(key, fn)
        if time.monotonic() - cached[0] > USAGE_MAX_AGE_S and key not in self._refreshing:
            task = asyncio.create_task(self._compute(key, fn))
            self._refreshing[key] = task
            task.add_done_callback(lambda _: self._refreshing.pop(key, None))
        return cached[1]

    async def check(
        self, volume: Volume, vfid: uuid.UUID, folder_quota: int, incoming: int, *, fresh: bool
    ) -> None:
        """Refuse (413) when ``incoming`` more bytes would not fit the folder or the volume."""
        if folder_quota:
            used = await self.get(
                ("folder", volume.name, vfid),
                lambda: volume.folder_usage(vfid).used_bytes,
                fresh=fresh,
            )
            if used + incoming > folder_quota:
                raise VFolderQuotaExceeded(
                    f"The folder holds {used} bytes of its {folder_quota}-byte quota; "
                    f"{incoming} more bytes do not fit."
                )
        if volume.quota:
            used = await self.get(("volume", volume.name), volume.volume_used, fresh=fresh)
            if used + incoming > volume.quota:
                raise VFolderQuotaExceeded(
                    f"The volume {volume.name!r} holds {used} bytes of its {volume.quota}-byte "
                    f"quota; {incoming} more bytes do not fit."
                )


@dataclass
class StorageContext:
    settings: StorageSettings
    volumes: dict[str, Volume]
    signer: TokenSigner
    executor: ThreadPoolExecutor
    usage: UsageCache = field(init=False)
    # Uploads with a PATCH in flight (one at a time each), and those that ended here.
    busy_uploads: set[str] = field(default_factory=set)
    ended_uploads: dict[str, str] = field(default_factory=dict)  # id -> "done" | "failed"

    def __post_init__(self) -> None:
        self.usage = UsageCache(self)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the bounded pool: blocking file work never runs on the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args))

    def upload_ended(self, upload_id: str, how: str) -> None:
        """Remember how an upload ended (a HEAD after the last PATCH still answers), for the
        most recent ones only: memory must not grow with the number of uploads served."""
        self.ended_uploads[upload_id] = how
        while len(self.ended_uploads) > MAX_ENDED_UPLOADS:
            del self.ended_uploads[next(iter(self.ended_uploads))]

    def volume(self, name: str) -> Volume:
        try:
            return self.volumes[name]
        except KeyError:
            raise NotFound(f"No volume {name!r} on this storage process.") from None

    def public_url(self, request: web.Request, route: str) -> str:
        if self.settings.public_url is None and self.settings.port == 0:
            return f"{request.scheme}://{request.host}{route}"  # a test's ephemeral port
        return self.settings.url + route


CONTEXT: web.AppKey[StorageContext] = web.AppKey("storage_context", StorageContext)
