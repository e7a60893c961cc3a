"""Bad input is a 4xx, never a 5xx, and loses nothing: tried on the real platform (`up`, the
real Docker agent) as a plain user would send it.

Each refused create must answer 400 with a message that says what was wrong, and leave no
session row in the database and no container on the agent. Each refused upload must answer 400
and write nothing into the session.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fixtures.live import LiveServer
from tests.manager.conftest import create_body
from tests.security.conftest import Tenant

pytestmark = [pytest.mark.slow, pytest.mark.docker]

PROBS = "https://api.backend.ai/probs/"


# (name, body changes, text the message must hold)
BAD_CREATES: list[tuple[str, dict[str, Any], str]] = [
    ("badin-mem", {"config": {"resources": {"mem": "99999999999999999999999p"}}},
     "is too large; at most 8 EiB"),
    ("badin-start-year", {"starts_at": "99999-01-01T00:00:00"}, "Invalid starts_at"),
    ("badin-start-delay", {"starts_at": "99999999999d"}, "at most 366 days from now"),
    ("badin-newline\n", {}, "Invalid session name 'badin-newline\\n'"),
    ("badin-port-neg", {"config": {"preopen_ports": [-1]}}, "-1 is not a port"),
    ("badin-port-zero", {"config": {"preopen_ports": [0]}}, "0 is not a port"),
    ("badin-port-big", {"config": {"preopen_ports": [70000]}}, "70000 is not a port"),
    ("badin-cpu-bool", {"config": {"resources": {"cpu": True}}}, "true is not an amount"),
    ("badin-env-eq", {"config": {"environ": {"A=B": "1"}}},
     "invalid environment variable name 'A=B'"),
    ("badin-env-nul", {"config": {"environ": {"A\x00B": "1"}}}, "contains a NUL character"),
    ("badin-env-digit", {"config": {"environ": {"1ABC": "1"}}}, "not starting with a digit"),
    ("badin-env-value", {"config": {"environ": {"BIG": "x" * 70_000}}}, "at most 65536"),
]  # fmt: skip


def session_rows(live: LiveServer) -> list[str]:
    """The names of every session the platform's database holds, whatever its status."""
    db = sqlite3.connect(f"file:{live.data_dir / 'backendai.db'}?mode=ro", uri=True)
    try:
        return [name for (name,) in db.execute("SELECT name FROM sessions")]
    finally:
        db.close()


def kernel_ids(live: LiveServer) -> set[str]:
    return {str(k["kernel_id"]) for k in live.agent_kernels()}


async def test_bad_creates_are_clear_400s_that_leave_nothing(
    live_server: LiveServer, tenants: dict[str, Tenant]
) -> None:
    alice = tenants["alice"]
    kernels_before = kernel_ids(live_server)
    for name, extra, text in BAD_CREATES:
        status, body = await alice.call("POST", "/session", create_body(name, **extra))
        assert status == 400, (name, body)
        assert isinstance(body, dict) and body["type"] == PROBS + "invalid-api-params", body
        assert text in body["msg"], (name, body["msg"])
    names = {name for name, _, _ in BAD_CREATES}
    assert names.isdisjoint(session_rows(live_server))
    assert {n.rstrip("\n") for n in names}.isdisjoint(session_rows(live_server))
    assert kernel_ids(live_server) <= kernels_before  # no container was made for any of them


@pytest.fixture
async def upload_target(tenants: dict[str, Tenant]) -> AsyncIterator[str]:
    name = f"badin-up-{uuid.uuid4().hex[:6]}"
    async with tenants["alice"].sdk() as api:
        session = await api.ComputeSession.get_or_create("python", name=name)
        try:
            yield name
        finally:
            await session.destroy()


def _multipart(header: bytes) -> bytes:
    return b"--XX\r\n" + header + b"\r\n\r\nprint('lost')\r\n--XX--\r\n"


async def test_malformed_uploads_are_clear_400s_that_write_nothing(
    tenants: dict[str, Tenant], upload_target: str
) -> None:
    alice = tenants["alice"]
    rel_url = f"/session/{upload_target}/upload"
    bad = [
        # A raw newline in the file name: the part's header line breaks in two.
        (_multipart(b'Content-Disposition: form-data; name="src"; filename="up\nlost.py"'),
         "The multipart body is malformed (Invalid HTTP header"),
        # A part header without its colon.
        (_multipart(b"Content-Disposition form-data"), "The multipart body is malformed"),
        # The newline, percent-encoded as Backend.AI's client writes file names: a bad name.
        (_multipart(b"Content-Disposition: form-data; name=\"src\"; filename*=utf-8''up%0Alost.py"),
         "no control characters"),
    ]  # fmt: skip
    async with aiohttp.ClientSession() as http:
        for raw, text in bad:
            headers = alice.headers("POST", rel_url, "multipart/form-data")
            headers["Content-Type"] = "multipart/form-data; boundary=XX"
            async with http.post(alice.endpoint + rel_url, data=raw, headers=headers) as resp:
                body = await resp.json(content_type=None)
            assert resp.status == 400, body
            assert text in body["msg"], body["msg"]
    status, listing = await alice.call("GET", f"/session/{upload_target}/files", {"path": "."})
    assert status == 200, listing
    names = [entry["filename"] for entry in json.loads(listing["files"])]
    assert not [n for n in names if "lost" in n], names
