"""The session's terminal: a login shell on a pseudo-terminal, over a WebSocket.

Frames follow Backend.AI's PTY stream: JSON text frames up (``stdin`` with base64 ``chars``,
``resize`` with ``rows``/``cols``, ``ping``, ``restart``) and down (``out`` with base64
``data``, ``error`` with a message).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json

from aiohttp import WSMsgType, web

from backendai.agent.backends.protocol import PtyStream
from backendai.agent.kernels import Kernel, KernelRegistry
from backendai.common.websockets import MAX_FRAME_SIZE

SHELL = ["/bin/bash", "-l"]


async def _open(registry: KernelRegistry, kernel: Kernel) -> PtyStream:
    s = registry.settings
    return await registry.backend.open_pty(
        kernel.container_id,
        SHELL,
        user=f"{s.uid}:{s.gid}",
        workdir="/home/work",
        env=["TERM=xterm-256color", "HOME=/home/work", "USER=work"],
    )


async def terminal(
    request: web.Request, registry: KernelRegistry, kernel: Kernel
) -> web.WebSocketResponse:
    pty = await _open(registry, kernel)  # refused before the upgrade: a problem JSON
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_SIZE, heartbeat=30)
    await ws.prepare(request)
    state: dict[str, PtyStream] = {"pty": pty}

    async def downstream() -> None:
        while True:
            current = state["pty"]
            data = await current.read()
            if data is None:
                if current is not state["pty"]:  # replaced by a restart: read the new one
                    continue
                return
            await ws.send_json({"type": "out", "data": base64.b64encode(data).decode("ascii")})

    reader = asyncio.create_task(downstream())
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            try:
                frame = json.loads(msg.data)
            except ValueError:
                continue
            kind = frame.get("type") if isinstance(frame, dict) else None
            if kind == "stdin":
                await state["pty"].write(base64.b64decode(str(frame.get("chars", ""))))
            elif kind == "resize":
                rows, cols = int(frame.get("rows", 24)), int(frame.get("cols", 80))
                await state["pty"].resize(rows, cols)
            elif kind == "restart":
                old, state["pty"] = state["pty"], await _open(registry, kernel)
                await old.close()
            if reader.done():
                break
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await state["pty"].close()
        await ws.close()
    return ws
