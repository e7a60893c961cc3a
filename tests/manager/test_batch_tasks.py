"""Batch sessions end with their task (services.batch_tasks): result, exit code, kept log,
whichever of the agent's event and heartbeat comes first, and however the session ends."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from backendai.common.agent_protocol import ContainerState
from backendai.common.statuses import SessionResult, SessionStatus
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import TaskLogChunk
from backendai.manager.services.bootstrap import Credentials
from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import create, eventually, history, wait_status
from tests.manager.fake_agent import FakeAgent

TERMINATED = SessionStatus.TERMINATED


async def start_batch(
    platform: ManagerHarness, name: str, command: str = "echo hi", **extra: Any
) -> uuid.UUID:
    """A RUNNING batch session (as ``start --type batch -c COMMAND`` makes it); its id is
    its main kernel's."""
    status, body = await create(platform, name, type="batch", startupCommand=command, **extra)
    assert status == 201, body
    assert body["status"] == "RUNNING", body
    return uuid.UUID(body["sessionId"])


async def stored_log(platform: ManagerHarness, session_id: uuid.UUID) -> tuple[bytes, int]:
    """(the stored log, how many rows hold it)."""
    async with platform.ctx.db() as db:
        rows = list(
            await db.scalars(
                sa.select(TaskLogChunk.data)
                .where(TaskLogChunk.session_id == session_id)
                .order_by(TaskLogChunk.seq)
            )
        )
    return b"".join(rows), len(rows)


async def read_log(
    platform: ManagerHarness,
    task_id: uuid.UUID | str,
    *,
    follow: bool = False,
    as_: str | Credentials = "demo",
    offset: int | None = None,
) -> tuple[int, bytes]:
    """``task-logs`` as the official client sends it (a signed GET, the query signed too);
    ``offset`` as the web UI's log viewer adds it."""
    url = f"/session/_/logs?taskId={task_id}&follow={'1' if follow else '0'}"
    if offset is not None:
        url += f"&offset={offset}"
    creds = getattr(platform.users, as_) if isinstance(as_, str) else as_
    headers = platform.headers(creds.access_key, creds.secret_key, "GET", url, "text/plain")
    async with platform.client.get(url, headers=headers) as resp:
        return resp.status, await resp.read()


async def test_exit_0_ends_success_with_its_log(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    sid = await start_batch(platform, "batch-ok")
    assert joined.create_calls[-1].task is not None
    assert joined.create_calls[-1].task.exec == "echo hi"
    joined.write_task(sid, b"hi\n")
    assert await joined.finish_task(platform, sid, 0) == 200
    s = await wait_status(platform, sid, TERMINATED)
    assert s.result is SessionResult.SUCCESS
    assert s.status_info == "task-finished"
    assert s.status_data["exit_code"] == 0
    assert await stored_log(platform, sid) == (b"hi\n", 1)
    assert joined.containers == {}  # destroyed
    assert [h for h, _ in await history(platform, sid)][-2:] == ["TERMINATING", "TERMINATED"]
    assert await read_log(platform, sid) == (200, b"hi\n")
    assert await read_log(platform, sid, follow=True) == (200, b"hi\n")


async def test_exit_3_ends_failure_with_its_output(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    sid = await start_batch(platform, "batch-bad", "echo bad >&2; exit 3")
    await joined.finish_task(platform, sid, 3, output=b"bad\n")
    s = await wait_status(platform, sid, TERMINATED)
    assert (s.result, s.status_data["exit_code"]) == (SessionResult.FAILURE, 3)
    assert await read_log(platform, sid) == (200, b"bad\n")
    gql = await platform.gql(
        "query($id: UUID!) { compute_session(id: $id) { task_id status result status_data } }",
        {"id": str(sid)},
    )
    node = gql["data"]["compute_session"]
    assert (node["task_id"], node["status"], node["result"]) == (str(sid), "TERMINATED", "FAILURE")
    assert '"exit_code": 3' in node["status_data"]


async def test_a_task_that_ends_before_the_session_ran(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    """The agent answers create before the task runs: the event may come first."""

    async def quick(req: Any) -> None:
        assert await joined.finish_task(platform, req.kernel_id, 0, output=b"quick\n") == 200

    joined.on_create = quick
    status, body = await create(platform, "batch-quick", type="batch", startupCommand="true")
    assert status == 201, body
    sid = uuid.UUID(body["sessionId"])
    s = await wait_status(platform, sid, TERMINATED)
    assert s.result is SessionResult.SUCCESS and s.status_data["exit_code"] == 0
    assert "RUNNING" not in [h for h, _ in await history(platform, sid)]
    assert await stored_log(platform, sid) == (b"quick\n", 1)
    await eventually(lambda: joined.containers == {})  # the launcher's late container too


async def test_event_and_heartbeat_end_it_once(platform: ManagerHarness, joined: FakeAgent) -> None:
    sid = await start_batch(platform, "batch-twice")
    await joined.finish_task(platform, sid, 0, output=b"once\n", event=False)
    # Both at once, as a real agent may send them, then the event again.
    assert await joined.send_heartbeat(platform) == 200
    assert await joined.post_task_finished(platform, sid, 0) == 200
    await wait_status(platform, sid, TERMINATED)
    assert await joined.post_task_finished(platform, sid, 0) == 200
    assert await stored_log(platform, sid) == (b"once\n", 1)
    statuses = [h for h, _ in await history(platform, sid)]
    assert statuses.count("TERMINATING") == 1 and statuses.count("TERMINATED") == 1
    copies = [c for c in joined.task_log_calls if not c[2]]
    assert copies == [(sid, 0, False)]


async def test_heartbeat_alone_ends_it(platform: ManagerHarness, joined: FakeAgent) -> None:
    """The event was lost (a restarting manager): the heartbeat reports the exit code."""
    sid = await start_batch(platform, "batch-hb")
    await joined.finish_task(platform, sid, 7, output=b"from hb\n", event=False)
    assert await joined.send_heartbeat(platform) == 200
    s = await wait_status(platform, sid, TERMINATED)
    assert (s.result, s.status_data["exit_code"], s.status_info) == (
        SessionResult.FAILURE, 7, "task-finished"
    )  # fmt: skip
    assert await stored_log(platform, sid) == (b"from hb\n", 1)


async def test_rm_keeps_the_partial_log_and_fails(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    sid = await start_batch(platform, "batch-rm", "sleep 100")
    joined.write_task(sid, b"half way\n")
    resp = await platform.signed("DELETE", "/session/batch-rm")
    assert resp.status == 200, await resp.text()
    s = await wait_status(platform, sid, TERMINATED)
    assert s.result is SessionResult.FAILURE
    assert "exit_code" not in s.status_data
    assert s.status_info == "user-requested"
    assert await stored_log(platform, sid) == (b"half way\n", 1)
    assert await read_log(platform, sid, follow=True) == (200, b"half way\n")


async def test_rm_after_the_task_ended_keeps_its_result(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    """The agent's answer to the copy says the task ended: its code decides, not the rm."""
    sid = await start_batch(platform, "batch-rm-done")
    await joined.finish_task(platform, sid, 0, output=b"done\n", event=False)
    resp = await platform.signed("DELETE", "/session/batch-rm-done")
    assert resp.status == 200
    s = await wait_status(platform, sid, TERMINATED)
    assert (s.result, s.status_data["exit_code"]) == (SessionResult.SUCCESS, 0)


async def test_forced_rm_fails_it(platform: ManagerHarness, joined: FakeAgent) -> None:
    sid = await start_batch(platform, "batch-force")
    joined.write_task(sid, b"x")
    owner = platform.users.demo.access_key
    url = f"/session/batch-force?forced=true&owner_access_key={owner}"
    resp = await platform.signed("DELETE", url, as_="superadmin")
    assert resp.status == 200, await resp.text()
    s = await wait_status(platform, sid, TERMINATED)
    assert s.result is SessionResult.FAILURE
    await eventually(lambda: joined.containers == {})


async def test_a_failed_container_keeps_the_log(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    sid = await start_batch(platform, "batch-crash")
    joined.write_task(sid, b"before the crash\n")
    assert await joined.send_exit(platform, sid, oom=True) == 200
    s = await wait_status(platform, sid, SessionStatus.ERROR)
    assert s.result is SessionResult.FAILURE
    await eventually(lambda: joined.containers == {})
    assert await stored_log(platform, sid) == (b"before the crash\n", 1)


async def test_a_batch_container_that_exited_0_succeeds(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    sid = await start_batch(platform, "batch-exit0")
    joined.containers[sid] = joined.containers[sid].model_copy(
        update={"state": ContainerState.EXITED, "exit_code": 0}
    )
    assert await joined.send_heartbeat(platform) == 200
    s = await wait_status(platform, sid, TERMINATED)
    assert (s.result, s.status_info, s.status_data["exit_code"]) == (
        SessionResult.SUCCESS, "batch-finished", 0
    )  # fmt: skip


async def test_batch_sessions_are_never_idle(platform: ManagerHarness, joined: FakeAgent) -> None:
    sid = await start_batch(platform, "batch-idle", "sleep 100000")
    _, body = await create(platform, "interactive-idle")
    assert await platform.ctx.idle.sweep(utcnow() + timedelta(hours=5)) == [
        uuid.UUID(body["sessionId"])
    ]
    assert (await wait_status(platform, sid, SessionStatus.RUNNING)).status_info == ""


async def _session_events(sub: Any, session_id: uuid.UUID) -> list[str]:
    """The session-scope events of ``session_id`` until its end."""
    names: list[str] = []
    while (ev := await sub.get(max_wait=10)) is not None:
        if ev.session_id == session_id and ev.kernel is None:
            names.append(ev.name.value)
            if ev.name.ends_session:
                break
    return names


async def test_results_are_announced_before_the_end(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    """Backend.AI's session_success / session_failure come just before session_terminated."""
    for name, code, expected in (("ev-ok", 0, "session_success"), ("ev-bad", 3, "session_failure")):
        async with platform.ctx.events.subscribe() as sub:
            sid = await start_batch(platform, name)
            await joined.finish_task(platform, sid, code)
            names = await _session_events(sub, sid)
        assert names[-2:] == [expected, "session_terminated"], names
