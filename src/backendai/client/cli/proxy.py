"""``proxy``: a local, unauthenticated API proxy that signs every request it forwards with the
configured keypair, for GraphiQL and other tools that cannot sign. For development only.

Anyone who can reach it acts with your keypair, so it listens on 127.0.0.1 by default and
refuses what a web page in your browser could send it from elsewhere: a request whose
``Host`` is not a local name (DNS rebinding) or whose ``Origin`` is another site's. It sends no
CORS headers, so other sites cannot read its answers either. HTTP only (no WebSockets).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import click

from .connection import async_cli_session, load_config
from .pretty import print_warn

if TYPE_CHECKING:
    from aiohttp import web

    from backendai.client.session import AsyncSession

VERSION_PREFIX = re.compile(r"^/?v\d+/")
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
     "date", "server"}
)  # fmt: skip


def allowed_hosts(bind: str, port: int) -> frozenset[str]:
    names = LOCAL_NAMES | {bind}
    return frozenset(f"{name}:{port}" for name in names) | names


def create_proxy_app(session: AsyncSession, hosts: frozenset[str]) -> web.Application:
    from aiohttp import web

    from backendai.client.exceptions import BackendAPIError, BackendClientError
    from backendai.client.request import Request

    async def handle(request: web.Request) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        if host not in hosts:
            return web.Response(status=403, text=f"The proxy answers only to {sorted(hosts)[0]}.")
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] not in hosts:
            return web.Response(status=403, text="Cross-site requests are refused.")
        path = VERSION_PREFIX.sub("/", request.path)
        body = await request.read()
        upstream = Request(
            session, request.method, path, params=dict(request.query) or None,
            content=body, content_type=request.headers.get("Content-Type") or "text/plain",
        )  # fmt: skip
        try:
            async with upstream.stream() as answer:
                down = web.StreamResponse(status=answer.status, reason=answer.reason)
                for key, value in answer.headers.items():
                    if key.lower() not in HOP_BY_HOP:
                        down.headers.add(key, value)
                await down.prepare(request)
                async for chunk in answer.content.iter_chunked(8192):
                    await down.write(chunk)
                await down.write_eof()
                return down
        except BackendAPIError as e:
            return web.Response(
                status=e.status, reason=e.reason, text=json.dumps(e.data),
                content_type="application/problem+json",
            )  # fmt: skip
        except BackendClientError:
            return web.Response(status=502, text="The proxy target server is inaccessible.")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{path:.*}", handle)
    return app


@click.command()
@click.option(
    "--bind", type=str, default="127.0.0.1", help="The IP/host address to bind this proxy."
)
@click.option(
    "-p", "--port", type=int, default=8084,
    help="The TCP port to accept non-encrypted non-authorized API requests.",
)  # fmt: skip
def proxy(bind: str, port: int) -> None:
    """Run a non-encrypted non-authorized API proxy server. Use this only for development
    and testing!
    """
    import asyncio

    config = load_config()
    print_warn(
        "DEVELOPMENT ONLY: this proxy signs every request with your keypair "
        f"({config.access_key or 'session login'}) and asks nothing of its clients. "
        "Anyone who can reach it acts as you."
    )
    if bind not in LOCAL_NAMES:
        print_warn(f"It listens on {bind}, not only on this machine: other hosts can use it.")
    try:
        asyncio.run(_serve(bind, port))
    except KeyboardInterrupt:
        click.echo("The proxy stopped.", err=True)


async def _serve(bind: str, port: int) -> None:
    import asyncio

    from aiohttp import web

    async with async_cli_session() as session:
        runner = web.AppRunner(create_proxy_app(session, allowed_hosts(bind, port)))
        await runner.setup()
        site = web.TCPSite(runner, bind, port)
        await site.start()
        click.echo(f"Proxying http://{bind}:{port}/ to {session.config.endpoint} (Ctrl-C stops).")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
