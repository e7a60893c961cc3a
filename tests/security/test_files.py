"""What a user leaves in a home (a FIFO, a 1,100-deep tree, a sparse 1 GiB file) never stalls
another user's file operations, nor grows the platform's memory, nor outlives the session.

Alice prepares her home from inside her session; her file operations on those things must answer
soon (a clear refusal or a correct result), while Bob's ``ls`` and upload on his own session keep
answering within 2 s. Downloads stream: the platform's RSS is sampled while 1 GiB passes.
"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from backendai.agent.fstree import remove_tree
from backendai.client.exceptions import BackendAPIError
from backendai.client.func.compute_session import ComputeSession
from tests.fixtures.live import LiveServer
from tests.security.conftest import Tenant, within

pytestmark = [pytest.mark.slow, pytest.mark.docker]

MiB, GiB = 2**20, 2**30
DEPTH = 1100

# Run in Alice's session: her home gets a FIFO, a 1,100-deep tree and sparse files.
PREPARE = f"""
import os
open("marker-{{marker}}", "w").close()
os.mkfifo("fifo")
fd = os.open(".", os.O_RDONLY)
for name in ["deep"] + ["d"] * {DEPTH}:  # one level at a time: the path passes PATH_MAX
    os.mkdir(name, dir_fd=fd)
    sub = os.open(name, os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = sub
os.close(fd)
for name, size in [("sparse", {GiB}), ("huge-sparse", {3 * GiB}), ("small", {4 * MiB})]:
    with open(name, "wb") as f:
        f.truncate(size)
print("prepared")
"""


@pytest.fixture(scope="module", autouse=True)
def no_deep_tree_left(live_server: LiveServer) -> Iterator[None]:
    """Should a session outlive a failed test, its deep tree must not stay in pytest's temporary
    directory: pytest's clean-up of old runs recurses once per level and would fail on it."""
    yield
    for tree in (live_server.data_dir / "agent").glob("*/*/home/deep"):
        remove_tree(tree, ignore_errors=True)


def tar_size(member_sizes: list[int], header: int = 512) -> int:
    """A tar of regular files with short names: headers, data in blocks, end, whole records."""
    size = sum(header + s + -s % 512 for s in member_sizes) + 1024
    return size + -size % 10240


@asynccontextmanager
async def session_of(tenant: Tenant, what: str) -> AsyncIterator[ComputeSession[Any]]:
    async with tenant.sdk() as api:
        name = f"files-{what}-{uuid.uuid4().hex[:6]}"
        session = await api.ComputeSession.get_or_create("python", name=name)
        try:
            yield session
        finally:
            await session.destroy()


async def prepare_home(session: ComputeSession[Any], marker: str) -> None:
    result = await session.execute(PREPARE.replace("{marker}", marker), mode="query")
    assert ["stdout", "prepared\n"] in [list(c) for c in result["console"]], result


@dataclass
class Streamed:
    """A raw download read as it streams, nothing written to disk."""

    status: int
    problem: dict[str, Any] = field(default_factory=dict)
    part_sizes: list[int] = field(default_factory=list)
    first_header: tarfile.TarInfo | None = None
    kept: bytes = b""


async def stream_download(
    tenant: Tenant, session: str, files: list[str], keep: bool = False
) -> Streamed:
    rel_url = f"/session/{session}/download"
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            tenant.endpoint + rel_url,
            data=json.dumps({"files": files}),
            headers=tenant.headers("GET", rel_url),
            timeout=aiohttp.ClientTimeout(total=600),
        ) as resp,
    ):
        if resp.status != 200:
            return Streamed(resp.status, json.loads(await resp.text()))
        result = Streamed(resp.status)
        reader = aiohttp.MultipartReader.from_response(resp)
        kept, head = bytearray(), bytearray()
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            size = 0
            while chunk := await part.read_chunk(MiB):
                size += len(chunk)
                if len(head) < 512:
                    head += chunk[: 512 - len(head)]
                if keep:
                    kept += chunk
            result.part_sizes.append(size)
        result.first_header = tarfile.TarInfo.frombuf(bytes(head), "utf-8", "surrogateescape")
        result.kept = bytes(kept)
        return result


async def refused(call: Awaitable[Any]) -> str:
    """The message of the 400 that ``call`` must end with."""
    with pytest.raises(BackendAPIError) as error:
        await call
    assert error.value.status == 400, error.value
    return str(error.value.data.get("msg"))


async def test_another_users_files_answer_within_2s_while_alice_attacks(
    tenants: dict[str, Tenant], tmp_path: Path
) -> None:
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "fifo").write_text("onto the FIFO")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "mine.txt").write_text("bob's")
    alice_user, bob_user = tenants["alice"], tenants["bob"]
    async with session_of(alice_user, "alice") as alice, session_of(bob_user, "bob") as bob:
        await prepare_home(alice, uuid.uuid4().hex)

        async def upload_onto_fifo() -> str:
            return await refused(
                alice.upload([tmp_path / "alice" / "fifo"], basedir=tmp_path / "alice")
            )

        async def download_fifo() -> str:
            return await refused(alice.download(["fifo"], dest=tmp_path / "alice-dl"))

        async def ls_fifo() -> str:
            return str((await alice.list_files("fifo"))["errors"])

        async def download(name: str) -> Streamed:
            return await stream_download(alice_user, alice.ref, [name])

        async def bob_upload() -> None:
            await bob.upload([tmp_path / "bob" / "mine.txt"], basedir=tmp_path / "bob")

        async def timed(op: Callable[[], Awaitable[str]]) -> tuple[str, float]:
            started = time.monotonic()
            return await op(), time.monotonic() - started

        started = time.monotonic()
        fifo_ops = [
            asyncio.create_task(timed(op))
            for op in [upload_onto_fifo] * 8 + [download_fifo] * 8 + [ls_fifo] * 4
        ]
        big = [asyncio.create_task(download(n)) for n in ["sparse", "deep", "deep"]]
        rounds: list[tuple[float, float]] = []
        during_big = 0
        while len(rounds) < 3 or not all(t.done() for t in [*fifo_ops, *big]):
            busy = not all(t.done() for t in big)
            _, ls_took = await within(2, lambda: bob.list_files("."))
            _, up_took = await within(2, bob_upload)
            rounds.append((ls_took, up_took))
            during_big += busy and not all(t.done() for t in big)
        fifo_answers = [answer for answer, _ in await asyncio.gather(*fifo_ops)]
        fifo_took = max(took for _, took in (t.result() for t in fifo_ops))
        sparse, deep, _ = await asyncio.gather(*big)
        total = time.monotonic() - started
    worst = max(max(r) for r in rounds)
    print(
        f"Bob: {len(rounds)} rounds of ls + upload, the slowest {worst:.2f} s; Alice's FIFO "
        f"operations answered within {fifo_took:.2f} s, all her work in {total:.1f} s"
    )
    assert during_big >= 1, "no round of Bob's measured while Alice's downloads streamed"
    assert worst < 2
    assert fifo_took < 10  # refused at once (blocking opens never returned at all)
    for message in fifo_answers[:8]:
        assert "it is a FIFO (named pipe) or a socket, not a regular file" in message
    for message in fifo_answers[8:16]:
        assert "/home/work/fifo is a FIFO (named pipe): only regular files" in message
    for message in fifo_answers[16:]:
        assert message.endswith("fifo: not a directory")
    assert sparse.part_sizes == [tar_size([GiB])]
    assert deep.status == 200 and len(deep.part_sizes) == 1


async def test_a_sparse_gigabyte_streams_in_bounded_memory(
    live_server: LiveServer, tenants: dict[str, Tenant]
) -> None:
    alice_user = tenants["alice"]
    async with session_of(alice_user, "sparse") as alice:
        await prepare_home(alice, uuid.uuid4().hex)
        warm = await stream_download(alice_user, alice.ref, ["small"])
        assert warm.part_sizes == [tar_size([4 * MiB])]
        baseline = live_server.rss()
        peak, started = baseline, time.monotonic()
        download = asyncio.create_task(stream_download(alice_user, alice.ref, ["sparse"]))
        while not download.done():
            peak = max(peak, live_server.rss())
            await asyncio.sleep(0.02)
        got = await download
        print(
            f"1 GiB sparse download in {time.monotonic() - started:.1f} s; platform RSS "
            f"{baseline / MiB:.0f} MiB before, {peak / MiB:.0f} MiB at most while it streamed"
        )
        assert got.part_sizes == [tar_size([GiB])]  # whole, and not one byte more
        assert got.first_header is not None and got.first_header.name == "sparse"
        assert got.first_header.size == GiB
        assert peak - baseline < 100 * MiB

        # Past the agent's limit (2 GiB by default): refused before anything is sent.
        started = time.monotonic()
        message = await refused(alice.download(["huge-sparse"], dest="/nonexistent"))
        assert time.monotonic() - started < 5
        assert "at least 3.0 GiB" in message and "download limit of 2.0 GiB" in message


async def test_a_deep_tree_downloads_and_goes_with_its_session(
    live_server: LiveServer, tenants: dict[str, Tenant]
) -> None:
    alice_user = tenants["alice"]
    marker = uuid.uuid4().hex
    async with session_of(alice_user, "deep") as alice:
        await prepare_home(alice, marker)
        got = await asyncio.wait_for(
            stream_download(alice_user, alice.ref, ["deep"], keep=True), 60
        )
        assert got.status == 200
        with tarfile.open(fileobj=io.BytesIO(got.kept)) as tar:
            names = tar.getnames()
        assert len(names) == DEPTH + 1 and names[-1] == "/".join(["deep"] + ["d"] * DEPTH)
        listing = await alice.list_files("/".join(["deep"] + ["d"] * (DEPTH - 1)))
        assert listing["errors"] == ""
        assert [f["filename"] for f in json.loads(listing["files"])] == ["d"]
        [home] = [
            p
            for p in (live_server.data_dir / "agent").glob("*/*/home")
            if (p / f"marker-{marker}").exists()
        ]
    # The session is gone; so must be its home, deep tree and all.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while home.exists():
        assert loop.time() < deadline, f"{home} is still there"
        await asyncio.sleep(0.2)
    assert not home.parent.exists()
