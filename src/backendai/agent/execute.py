"""``GET /v1/kernels/{id}/execute``: one code execution bridged between a WebSocket and a runner.

The peer (the manager, relaying Backend.AI's client) sends one JSON text frame
``{"code", "mode", "options"}``; the runner's result frames go back verbatim (they are already
in the client's format) until ``finished``, then the socket closes. Later text frames are input
lines, except ``{"interrupt": true}``. A peer that goes away interrupts the run, as Ctrl-C would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from backendai.agent.errors import ContainerNotFound, KernelNotReady
from backendai.agent.kernels import Kernel, KernelRegistry
from backendai.agent.runner.channels import OOM_ENDING, killed_for_memory
from backendai.agent.runner_link import RunnerLink
from backendai.common.agent_protocol import ContainerState
from backendai.common.errors import PlatformError
from backendai.common.websockets import MAX_FRAME_SIZE

log = logging.getLogger(__name__)

MODES = ("query", "batch")


def _frame(status: str, stderr: str = "", exit_code: int | None = None) -> dict[str, Any]:
    console = [["stderr", stderr]] if stderr else []
    return {"status": status, "console": console, "exitCode": exit_code, "options": {}, "files": []}


async def execute(
    request: web.Request, registry: KernelRegistry, kernel: Kernel
) -> web.WebSocketResponse:
    try:
        link = await RunnerLink.connect(kernel.paths.socket)
    except OSError as e:
        # Refused before the upgrade, so the manager gets a problem JSON, not a silent socket.
        raise KernelNotReady(
            f"The kernel {kernel.kernel_id} does not answer (is its container running?)."
        ) from e
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_SIZE)
    await ws.prepare(request)
    try:
        first = await ws.receive()
        if first.type is not WSMsgType.TEXT:
            return ws
        try:
            job = json.loads(first.data)
            mode = str(job.get("mode", "query"))
        except (ValueError, AttributeError):
            await ws.send_json(_frame("finished", "The first frame must be a JSON object.\n", 1))
            return ws
        if mode not in MODES:
            await ws.send_json(_frame("finished", f"Unsupported execution mode {mode!r}.\n", 1))
            return ws
        await link.send(
            {
                "op": "run",
                "mode": mode,
                "code": str(job.get("code") or ""),
                "options": job.get("options") or {},
            }
        )
        await _relay(ws, link, registry, kernel)
    finally:
        await link.close()
        await ws.close()
    return ws


async def _relay(
    ws: web.WebSocketResponse, link: RunnerLink, registry: KernelRegistry, kernel: Kernel
) -> None:
    peer_gone = asyncio.Event()

    async def from_peer() -> None:
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            if _is_interrupt(message.data):
                await link.send({"op": "interrupt"})
            else:
                await link.send({"op": "input", "data": message.data})
        # The peer closed: dropping the runner connection interrupts the run.
        peer_gone.set()
        await link.close()

    inbound = asyncio.create_task(from_peer())
    try:
        while True:
            try:
                line = await link.receive_line()
            except (OSError, ValueError, asyncio.IncompleteReadError):
                line = b""
            if not line:
                if not peer_gone.is_set():
                    await ws.send_json(await _lost(registry, kernel))
                return
            await ws.send_str(line.decode())
            if json.loads(line).get("status") == "finished":
                return
    finally:
        inbound.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError, ConnectionError):
            await inbound


def _is_interrupt(text: str) -> bool:
    if not text.startswith("{"):
        return False
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("interrupt") is True


async def _lost(registry: KernelRegistry, kernel: Kernel) -> dict[str, Any]:
    """The final frame when the runner vanished mid-run: say what became of the container."""
    if kernel.out_of_memory:
        message = killed_for_memory(kernel.memory_limit()) + OOM_ENDING
        return _frame("finished", message, 137)
    try:
        record = await registry.backend.inspect(kernel.container_id)
    except (ContainerNotFound, PlatformError):
        return _frame("finished", "\nThe kernel's container is gone.\n", 1)
    if record.state is ContainerState.RUNNING:
        return _frame("finished", "\nThe kernel's runner stopped unexpectedly.\n", 1)
    why = "it ran out of memory" if record.oom_killed else f"exit code {record.exit_code}"
    return _frame("finished", f"\nThe kernel's container stopped ({why}).\n", record.exit_code)
