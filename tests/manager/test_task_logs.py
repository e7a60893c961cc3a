"""``GET /session/_/logs?taskId=`` (services.task_logs): stored or live, followed, streamed in
bounded pieces, and only to those who may read the session."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from backendai.common.batch_tasks import TASK_LOG_CHUNK
from backendai.common.statuses import SessionStatus, UserRole
from backendai.manager.db.models import Group
from backendai.manager.services.bootstrap import create_user
from backendai.manager.services.task_logs import TaskTarget
from tests.fixtures.platform import ManagerHarness, running_manager
from tests.manager.conftest import FAST, create, eventually, wait_status
from tests.manager.fake_agent import FakeAgent
from tests.manager.test_batch_tasks import read_log, start_batch, stored_log

TERMINATED = SessionStatus.TERMINATED


async def test_another_user_gets_404_an_admin_reads_it(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    sid = await start_batch(platform, "batch-mine")
    await joined.finish_task(platform, sid, 0, output=b"secret\n")
    await wait_status(platform, sid, TERMINATED)
    async with platform.ctx.db() as db, db.begin():
        group = await db.scalar(sa.select(Group.id).where(Group.name == "default"))
        assert group is not None
        bob = await create_user(db, email="bob@example.com", role=UserRole.USER, group_id=group)
    other = uuid.uuid4()
    status, body = await read_log(platform, sid, as_=bob)
    unknown_status, unknown = await read_log(platform, other, as_=bob)
    assert (status, unknown_status) == (404, 404)
    # The same answer as for a task that does not exist, but for the id.
    assert json.loads(body) == json.loads(unknown.replace(str(other).encode(), str(sid).encode()))
    assert await read_log(platform, sid, as_="superadmin") == (200, b"secret\n")


async def test_bad_task_ids(platform: ManagerHarness, joined: FakeAgent) -> None:
    resp = await platform.signed("GET", "/session/_/logs?taskId=not-a-uuid")
    assert resp.status == 400
    assert "taskId" in (await resp.json())["msg"]
    resp = await platform.signed("GET", "/session/_/logs")
    assert resp.status == 400
    assert "taskId" in (await resp.json())["msg"]
    _, body = await create(platform, "inter-1")
    resp = await platform.signed("GET", f"/session/_/logs?taskId={body['sessionId']}")
    assert resp.status == 400
    assert "interactive" in (await resp.json())["msg"]


async def test_a_big_log_streams_back_intact(platform: ManagerHarness, joined: FakeAgent) -> None:
    sid = await start_batch(platform, "batch-big")
    big = os.urandom(3 * TASK_LOG_CHUNK + 12345)
    joined.write_task(sid, big[:100_000])
    assert await read_log(platform, sid) == (200, big[:100_000])  # from the agent, now
    await joined.finish_task(platform, sid, 0, output=big[100_000:])
    await wait_status(platform, sid, TERMINATED)
    assert await stored_log(platform, sid) == (big, 4)
    assert await read_log(platform, sid) == (200, big)
    resp = await platform.signed("GET", f"/session/_/logs?taskId={sid}")
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.headers.get("Transfer-Encoding") == "chunked"
    assert await resp.read() == big


async def test_an_offset_answers_only_what_is_new(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    """The web UI's viewer asks from the byte it has: live from the agent, then stored."""
    sid = await start_batch(platform, "batch-offset")
    joined.write_task(sid, b"first\n")
    assert await read_log(platform, sid, offset=0) == (200, b"first\n")
    joined.write_task(sid, b"second\n")
    assert await read_log(platform, sid, offset=6) == (200, b"second\n")
    assert await read_log(platform, sid, offset=13) == (200, b"")
    await joined.finish_task(platform, sid, 0, output=b"third\n")
    await wait_status(platform, sid, TERMINATED)
    assert await read_log(platform, sid, offset=13) == (200, b"third\n")  # the stored copy
    assert await read_log(platform, sid, offset=10**9) == (200, b"")
    status, body = await read_log(platform, sid, offset=-1)
    assert status == 400 and b"offset" in body


async def test_follow_goes_on_until_the_task_ended(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    sid = await start_batch(platform, "batch-follow")
    joined.write_task(sid, b"one\n")
    reader = asyncio.create_task(read_log(platform, sid, follow=True))
    await eventually(lambda: any(c[2] for c in joined.task_log_calls))
    joined.write_task(sid, b"two\n")
    await asyncio.sleep(0.1)
    assert not reader.done()
    await joined.finish_task(platform, sid, 0, output=b"three\n")
    assert await asyncio.wait_for(reader, 5) == (200, b"one\ntwo\nthree\n")


@pytest.mark.parametrize("cut", [False, True], ids=["ended", "cut"])
async def test_follow_carries_on_from_the_stored_log_when_the_session_ends(
    platform: ManagerHarness, joined: FakeAgent, cut: bool
) -> None:
    """The session is removed while a reader follows it: the agent's stream ends (or breaks)
    when the container goes, and the reader finishes from the stored copy without repeating
    a byte."""
    joined.cut_followers = cut
    sid = await start_batch(platform, "batch-cut", "sleep 100")
    joined.write_task(sid, b"a" * 1000)
    reader = asyncio.create_task(read_log(platform, sid, follow=True))
    await eventually(lambda: any(c[2] for c in joined.task_log_calls))
    await asyncio.sleep(0.2)  # the reader has the a's
    joined.stall_followers = True  # the b's reach the copy only, not the reader
    joined.write_task(sid, b"b" * 10)
    resp = await platform.signed("DELETE", "/session/batch-cut")
    assert resp.status == 200
    assert await asyncio.wait_for(reader, 5) == (200, b"a" * 1000 + b"b" * 10)
    assert (await wait_status(platform, sid, TERMINATED)).status is TERMINATED


async def test_follow_waits_for_a_pending_session(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    status, body = await create(
        platform, "batch-later", type="batch", startupCommand="echo later", enqueueOnly=True
    )
    assert status == 201 and body["status"] == "PENDING", body
    sid = uuid.UUID(body["sessionId"])
    assert await read_log(platform, sid) == (200, b"")  # follow=0: nothing yet
    reader = asyncio.create_task(read_log(platform, sid, follow=True))
    await asyncio.sleep(0.3)
    assert not reader.done()
    assert await lost_agent.send_heartbeat(platform) == 200  # back: the session starts
    await wait_status(platform, sid, SessionStatus.RUNNING)
    await lost_agent.finish_task(platform, sid, 0, output=b"later\n")
    assert await asyncio.wait_for(reader, 5) == (200, b"later\n")


async def test_copies_that_overlap_keep_one_log(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    sid = await start_batch(platform, "batch-race")
    data = os.urandom(2 * TASK_LOG_CHUNK + 7)
    joined.write_task(sid, data)
    store = platform.ctx.control.task_logs
    target = TaskTarget(sid, sid, joined.addr)
    await asyncio.gather(*(store.keep([target]) for _ in range(4)))
    assert await stored_log(platform, sid) == (data, 3)
    chunks = [c async for c in store.read(sid, TASK_LOG_CHUNK - 3)]
    assert b"".join(chunks) == data[TASK_LOG_CHUNK - 3 :]
    assert max(len(c) for c in chunks) <= TASK_LOG_CHUNK


async def test_an_unreachable_agent_does_not_keep_the_session(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    sid = await start_batch(platform, "batch-down")
    joined.write_task(sid, b"lost\n")
    await joined.go_down()
    try:
        keep = platform.ctx.control.task_logs.keep([TaskTarget(sid, sid, joined.addr)])
        assert await asyncio.wait_for(keep, 5) == {}
    finally:
        await joined.come_back()
    assert await stored_log(platform, sid) == (b"", 0)


async def test_the_main_flow_on_each_engine(db_url: str, tmp_path: Path) -> None:
    """Copies that race, rows read from an offset, the result and exit code: the SQL of the
    store (lengths, sums, the row key) on both engines."""
    agent = FakeAgent()
    await agent.start()
    try:
        async with running_manager(tmp_path, db_url, **FAST) as platform:
            assert await agent.send_heartbeat(platform) == 200
            sid = await start_batch(platform, "batch-engine")
            data = os.urandom(TASK_LOG_CHUNK + 99)
            agent.write_task(sid, data)
            store = platform.ctx.control.task_logs
            target = TaskTarget(sid, sid, agent.addr)
            await asyncio.gather(store.keep([target]), store.keep([target]))
            assert await stored_log(platform, sid) == (data, 2)
            assert await store.tail(sid) == (2, len(data))
            agent.write_task(sid, b"more")  # a later copy appends what came since
            await agent.finish_task(platform, sid, 5)
            s = await wait_status(platform, sid, TERMINATED)
            assert (s.result.value, s.status_data["exit_code"]) == ("FAILURE", 5)
            assert await stored_log(platform, sid) == (data + b"more", 3)
            tail = b"".join([c async for c in store.read(sid, TASK_LOG_CHUNK + 1)])
            assert tail == data[TASK_LOG_CHUNK + 1 :] + b"more"
            assert await read_log(platform, sid) == (200, data + b"more")
    finally:
        await agent.close()
