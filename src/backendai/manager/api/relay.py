"""Passing an agent's streamed answer (a download) on to the client as it comes."""

from __future__ import annotations

from aiohttp import web

from backendai.common.streaming import abort_response
from backendai.manager.agent_client import RelayedStream


async def relay(request: web.Request, stream: RelayedStream) -> web.StreamResponse:
    """Send ``stream`` chunk by chunk; writing waits while the client is slower than the
    agent, so memory stays at a chunk. If the agent's stream breaks off, so does this one:
    the client must see a failed download, not a short one that looks complete."""
    response = web.StreamResponse(headers={"Content-Type": stream.content_type})
    await response.prepare(request)
    try:
        async for chunk in stream.chunks:
            await response.write(chunk)
        await response.write_eof()
    except ConnectionError:  # the client went away; leaving here closes the agent's stream
        abort_response(request)
    except BaseException:
        abort_response(request)
        raise
    return response
