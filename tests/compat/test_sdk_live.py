"""Seed 002's SDK against a live platform on Docker: the synchronous Kernel API, and the
asynchronous one with a pseudo-terminal."""

from __future__ import annotations

import uuid

import pytest

from backendai.client.legacy import AsyncKernel, Kernel
from tests.compat.conftest import api_env
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.compat, pytest.mark.docker]


@pytest.fixture
def sdk_env(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in api_env(live_server).items():
        monkeypatch.setenv(key, value)


def test_sync_kernel_execute_destroy(sdk_env: None) -> None:
    token = f"sdk-{uuid.uuid4().hex[:8]}"
    kern = Kernel.get_or_create("python", client_token=token)
    try:
        result = kern.execute('print("hello world")', mode="query")
        assert result["status"] == "finished"
        assert ["stdout", "hello world\n"] in [list(item) for item in result["console"]]
        again = Kernel.get_or_create("python", client_token=token)
        assert again.id == kern.id  # the same client token reuses the session
    finally:
        kern.destroy()


async def test_async_kernel_and_pty(sdk_env: None) -> None:
    token = f"pty-{uuid.uuid4().hex[:8]}"
    kern = await AsyncKernel.get_or_create("python", client_token=token)
    try:
        result = await kern.execute("x = 6 * 7\nprint(x)", mode="query")
        assert ["stdout", "42\n"] in [list(item) for item in result["console"]]
        seen = b""
        async with kern.stream_pty() as pty:
            await pty.resize(24, 80)
            await pty.send_stdin("echo pty-$((40+2)) && whoami\n")
            async for chunk in pty:
                seen += chunk
                if b"pty-42" in seen and b"work" in seen.split(b"pty-42", 1)[1]:
                    break
        assert b"pty-42" in seen
    finally:
        await kern.destroy()
        await AsyncKernel.close()
