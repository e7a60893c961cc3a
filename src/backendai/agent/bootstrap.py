"""A session's bootstrap script: run once in the new container before the kernel is ready.

It runs as the session's user through the engine's exec, which starts it in the container's
working directory (``/home/work``) with the container's environment (the session's, with
``HOME=/home/work``): what a template's ``git clone`` needs. A script that fails, or runs past
``[agent] bootstrap_timeout``, fails the kernel's creation with the end of its output, which
the manager shows as the session's error.
"""

from __future__ import annotations

import asyncio

from backendai.agent.backends.protocol import ContainerBackend
from backendai.agent.errors import KernelCreationFailed

OUTPUT_TAIL = 4096  # bytes of the script's output (stdout and stderr) kept for the message


class OutputTail:
    """The last ``keep`` bytes of a stream, whatever its length."""

    def __init__(self, keep: int = OUTPUT_TAIL) -> None:
        self.keep = keep
        self.data = bytearray()

    def add(self, _stream: str, data: bytes) -> None:
        self.data += data[-self.keep :]
        if len(self.data) > 2 * self.keep:  # trimmed now and then, not on every chunk
            del self.data[: -self.keep]

    def text(self) -> str:
        return bytes(self.data[-self.keep :]).decode(errors="replace")


async def run_bootstrap(
    backend: ContainerBackend, container_id: str, script: str, user: str, within: float
) -> None:
    """KernelCreationFailed when the script exits non-zero or does not end in time."""
    output = OutputTail()
    try:
        async with asyncio.timeout(within):
            code = await backend.exec_stream(
                container_id, ["/bin/sh", "-c", script], user=user, on_output=output.add
            )
    except TimeoutError:
        raise KernelCreationFailed(
            f"The bootstrap script did not finish within {within:g} s "
            f"([agent] bootstrap_timeout).{_ending(output)}"
        ) from None
    if code != 0:
        raise KernelCreationFailed(
            f"The bootstrap script exited with code {code}.{_ending(output)}"
        )


def _ending(output: OutputTail) -> str:
    text = output.text()
    return f" Its output ends with:\n{text}" if text else " It wrote nothing."
