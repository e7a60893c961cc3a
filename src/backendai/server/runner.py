"""Running aiohttp applications in the foreground until a signal arrives."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from backendai.common.errors import ConfigurationError


@dataclass
class Site:
    name: str
    app: web.Application
    host: str
    port: int


async def serve(
    sites: Sequence[Site], on_ready: Callable[[list[str]], Awaitable[None]] | None = None
) -> None:
    """Start every site, call ``on_ready`` with their URLs, and wait for SIGINT/SIGTERM."""
    runners: list[web.AppRunner] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        urls = []
        for site in sites:
            runner = web.AppRunner(site.app, access_log=None)
            await runner.setup()
            runners.append(runner)
            tcp = web.TCPSite(runner, site.host, site.port, reuse_address=True)
            try:
                await tcp.start()
            except OSError as e:
                raise ConfigurationError(
                    f"The {site.name} cannot listen on {site.host}:{site.port}: {e.strerror}. "
                    "Stop what uses that port or choose another one."
                ) from e
            port = runner.addresses[0][1] if runner.addresses else site.port
            urls.append(f"http://{site.host}:{port}")
        if on_ready is not None:
            await on_ready(urls)
        await stop.wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
