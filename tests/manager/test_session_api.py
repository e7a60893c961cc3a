"""``POST/GET/PATCH/DELETE /session``: creation, reuse, clear refusals that leave nothing behind,
queueing, termination and cancellation, against the fake agent."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from backendai.common.statuses import SessionStatus
from backendai.manager.services import sessions as sessions_module
from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import (
    count_sessions,
    create,
    history,
    json_of,
    kernel_row,
    session_row,
    wait_status,
)
from tests.manager.fake_agent import FakeAgent, GiB

PROBS = "https://api.backend.ai/probs/"


async def test_create_runs_the_session(platform: ManagerHarness, joined: FakeAgent) -> None:
    status, body = await create(platform, "mysess", config={"resources": {"cpu": "2", "mem": "2g"}})
    assert status == 201, body
    assert body["status"] == "RUNNING" and body["created"] is True
    assert body["sessionName"] == "mysess"
    assert {p["name"] for p in body["servicePorts"]} == {"ttyd", "sshd"}
    [call] = joined.create_calls
    assert call.kernel_id == uuid.UUID(body["sessionId"])
    assert call.image == "backendai/python:3.11-debian12"
    assert call.slots == {"cpu": "2", "mem": str(2 * GiB)}
    s = await session_row(platform, body["sessionId"])
    assert s.occupying_slots == {"cpu": "2", "mem": str(2 * GiB)}
    k = await kernel_row(platform, body["sessionId"])
    assert k.container_id and k.agent == "agent-1"
    assert [st for st, _ in await history(platform, s.id)] == [
        "PENDING", "SCHEDULED", "PREPARING", "RUNNING"
    ]  # fmt: skip


async def test_reuse_same_image_and_refusals(platform: ManagerHarness, joined: FakeAgent) -> None:
    status, first = await create(platform, "reuse1")
    assert status == 201
    status, again = await create(platform, "reuse1", image="backendai/python:3.11-debian12")
    assert status == 200, again
    assert again["created"] is False and again["sessionId"] == first["sessionId"]
    assert again["status"] == "RUNNING" and again["service_ports"]
    status, body = await create(platform, "reuse1", reuseIfExists=False)
    assert status == 400
    assert body["type"] == PROBS + "session-already-exists"
    assert body["data"]["existingSessionId"] == first["sessionId"]
    status, body = await create(platform, "reuse1", image="backendai/python:latest")
    assert status == 400 and "runs backendai/python:3.11-debian12" in body["msg"]
    assert len(joined.create_calls) == 1
    assert await count_sessions(platform) == 1


async def test_refusals_leave_nothing_behind(platform: ManagerHarness, joined: FakeAgent) -> None:
    cases: list[tuple[str, dict[str, Any], int, str, str]] = [
        ("x", {}, 400, "invalid-api-params", "Invalid session name"),
        ("bad name!", {}, 400, "invalid-api-params", "Invalid session name"),
        ("okname", {"image": "nosuch:1.0"}, 404, "image-not-found", "backendai/python:latest"),
        ("okname", {"config": {"resources": {"mem": "abc"}}}, 400, "invalid-api-params",
         "Invalid amount for resource mem"),
        ("okname", {"config": {"resources": {"gpu": "1"}}}, 400, "invalid-api-params",
         "Unknown resource slot gpu"),
        ("okname", {"config": {"resources": {"cpu": "64"}}}, 400, "invalid-api-params",
         "cpu 64 (the largest agent has 4)"),
        ("okname", {"config": {"resources": {"cuda.device": "1"}}}, 400, "invalid-api-params",
         "no agent has any"),
        ("okname", {"config": {"resources": {"mem": "128m"}}}, 400, "invalid-api-params",
         "needs at least mem 256 MiB"),
        ("okname", {"group": "nosuch"}, 404, "group-not-found", "nosuch"),
        ("okname", {"clusterSize": 2}, 400, "invalid-api-params", "single-container"),
    ]  # fmt: skip
    for name, extra, code, slug, text in cases:
        image = extra.pop("image", "python")
        status, body = await create(platform, name, image, **extra)
        assert (status, body["type"]) == (code, PROBS + slug), (name, extra, body)
        assert text in body.get("msg", ""), body
    assert await count_sessions(platform) == 0
    assert joined.create_calls == []


async def test_unknown_image_lists_known_ones(platform: ManagerHarness, joined: FakeAgent) -> None:
    status, body = await create(platform, "imgsess", "python:3.6-ubuntu18.04")
    assert status == 404
    assert "Unknown image 'python:3.6-ubuntu18.04'" in body["msg"]
    assert "python -> backendai/python:3.11-debian12" in body["msg"]
    assert "backendai/base:debian12" not in body["msg"]  # not a session image


async def test_image_names_resolve(platform: ManagerHarness, joined: FakeAgent) -> None:
    for i, ref in enumerate(["python", "python:3.11-debian12", "backendai/python",
                             "backendai/python:3.11-debian12"]):  # fmt: skip
        status, body = await create(platform, f"img-{i}", ref, enqueueOnly=True)
        assert status == 201, (ref, body)
    images = [c.image for c in joined.create_calls]
    assert len(images) <= 4
    async with platform.ctx.db() as db:
        from backendai.manager.services.images import resolve

        assert (await resolve(db, "backendai/python")).name == "backendai/python:latest"
        assert (await resolve(db, "python")).name == "backendai/python:3.11-debian12"


async def test_enqueue_only_waits_for_an_agent(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    status, body = await create(platform, "queued1", enqueueOnly=True)
    assert status == 201 and body["status"] == "PENDING"
    await platform.ctx.scheduler.run_pass()
    s = await session_row(platform, body["sessionId"])
    assert s.status is SessionStatus.PENDING
    assert s.status_info and "no agent is available" in s.status_info
    assert s.status_data["scheduler"]["queue_position"] == 1
    assert await lost_agent.send_heartbeat(platform) == 200  # back: it runs there
    await wait_status(platform, body["sessionId"], SessionStatus.RUNNING)


async def test_pending_reason_names_the_shortage(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    status, first = await create(platform, "big-1", config={"resources": {"cpu": "3"}})
    assert status == 201 and first["status"] == "RUNNING"
    status, body = await create(
        platform, "big-2", config={"resources": {"cpu": "2"}}, enqueueOnly=True
    )
    assert status == 201
    await platform.ctx.scheduler.run_pass()
    s = await session_row(platform, body["sessionId"])
    assert s.status is SessionStatus.PENDING
    assert s.status_info == "no agent has 2 free cpu (largest free: 1)"
    resp = await platform.signed("DELETE", "/session/big-1")
    assert resp.status == 200
    await wait_status(platform, body["sessionId"], SessionStatus.RUNNING)


async def test_max_wait_times_out(platform: ManagerHarness, agent: FakeAgent) -> None:
    agent.create_delay = 2.0
    assert await agent.send_heartbeat(platform) == 200
    status, body = await create(platform, "slow-1", maxWaitSeconds=1)
    assert status == 201 and body["status"] == "TIMEOUT"
    await wait_status(platform, body["sessionId"], SessionStatus.RUNNING)


async def test_agent_failure_is_error_without_leak(
    platform: ManagerHarness, agent: FakeAgent
) -> None:
    agent.fail_create = "no space left on device"
    assert await agent.send_heartbeat(platform) == 200
    status, body = await create(platform, "fails-1")
    assert status == 201 and body["status"] == "ERROR"
    s = await session_row(platform, body["sessionId"])
    assert s.status_info == "failed-to-start"
    assert "no space left on device" in s.status_data["error"]["message"]
    assert agent.destroy_calls == [uuid.UUID(body["sessionId"])]
    assert agent.containers == {}


async def test_terminate_and_history(platform: ManagerHarness, joined: FakeAgent) -> None:
    _, body = await create(platform, "term-1")
    sid = body["sessionId"]
    joined.destroy_delay = 0.3
    resp = await platform.signed("DELETE", "/session/term-1")
    assert resp.status == 200
    # Answered at once, with the counters read just before; the container goes afterwards.
    stats = (await resp.json())["stats"]
    assert stats["status"] == "terminated" and stats["mem"]["current"] == "2048"
    assert (await session_row(platform, sid)).status is SessionStatus.TERMINATING
    s = await wait_status(platform, sid, SessionStatus.TERMINATED)
    assert s.terminated_at is not None
    assert joined.destroy_calls == [uuid.UUID(sid)]
    k = await kernel_row(platform, sid)
    assert k.container_log == f"log of {sid}\n" and k.last_stat["mem"]["current"] == "1024"
    assert (await history(platform, sid))[-2:] == [
        ("TERMINATING", "user-requested"), ("TERMINATED", "user-requested")
    ]  # fmt: skip
    resp = await platform.signed("DELETE", "/session/term-1")
    assert resp.status == 404  # no live session of that name any more
    # The name is free again.
    status, again = await create(platform, "term-1")
    assert status == 201 and again["sessionId"] != sid


async def test_terminate_without_stats(platform: ManagerHarness, joined: FakeAgent) -> None:
    _, body = await create(platform, "nostat-1")
    joined.fail_stats = True
    resp = await platform.signed("DELETE", "/session/nostat-1")
    assert resp.status == 200 and await resp.json() == {"stats": None}
    await wait_status(platform, body["sessionId"], SessionStatus.TERMINATED)


async def test_name_of_a_terminating_session(platform: ManagerHarness, joined: FakeAgent) -> None:
    """`rm NAME && run -n NAME`: the new session waits for its namesake's end, not reuses it."""
    _, body = await create(platform, "again-1")
    joined.destroy_delay = 0.3
    assert (await platform.signed("DELETE", "/session/again-1")).status == 200
    status, again = await create(platform, "again-1")
    assert status == 201 and again["sessionId"] != body["sessionId"]
    assert again["status"] == "RUNNING"
    assert (await session_row(platform, body["sessionId"])).status is SessionStatus.TERMINATED


async def test_cancel_pending(platform: ManagerHarness, lost_agent: FakeAgent) -> None:
    status, body = await create(platform, "pend-1", enqueueOnly=True)
    assert status == 201
    resp = await platform.signed("DELETE", f"/session/{body['sessionId'][:8]}")
    assert resp.status == 200 and (await resp.json()) == {"stats": None}
    s = await session_row(platform, body["sessionId"])
    assert s.status is SessionStatus.CANCELLED
    assert await history(platform, s.id) == [
        ("PENDING", "user-requested"), ("CANCELLED", "user-requested")
    ]  # fmt: skip


async def test_lookup_by_prefix_and_ambiguity(
    platform: ManagerHarness, lost_agent: FakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    crafted = iter([uuid.UUID("abcd0000-0000-4000-8000-000000000001"),
                    uuid.UUID("abcd0000-0000-4000-8000-000000000002")])  # fmt: skip
    monkeypatch.setattr(sessions_module, "uuid", SimpleNamespace(uuid4=lambda: next(crafted)))
    for name in ("look-1", "look-2"):
        status, body = await create(platform, name, enqueueOnly=True)
        assert status == 201, body
    resp = await platform.signed("GET", "/session/abcd0000-0000-4000-8000-000000000002")
    assert resp.status == 200 and (await resp.json())["status"] == "PENDING"
    resp = await platform.signed("GET", "/session/abcd0000000040008000000000000001")
    assert resp.status == 200
    resp = await platform.signed("GET", "/session/abcd")
    body = await json_of(resp)
    assert resp.status == 404 and body["type"] == PROBS + "too-many-sessions-matched"
    assert {m["name"] for m in body["data"]["matches"]} == {"look-1", "look-2"}
    resp = await platform.signed("DELETE", "/session/abcd0000-0000-4000-8000-00000000000")
    assert resp.status == 404  # still two
    resp = await platform.signed("GET", "/session/nosuch")
    body = await json_of(resp)
    assert resp.status == 404 and body["type"] == PROBS + "session-not-found"


async def test_info_restart_and_forced(platform: ManagerHarness, joined: FakeAgent) -> None:
    _, body = await create(platform, "info-1", config={"environ": {"A": "1"}})
    resp = await platform.signed("GET", "/session/info-1")
    info = await resp.json()
    assert info["status"] == "RUNNING" and info["environ"] == {"A": "1"}
    assert info["image"] == "backendai/python:3.11-debian12" and info["tag"] == "3.11-debian12"
    assert info["numQueriesExecuted"] == 0 and info["age"] >= 0
    resp = await platform.signed("PATCH", "/session/info-1")
    assert resp.status == 204
    assert joined.restart_calls == [uuid.UUID(body["sessionId"])]
    assert (await kernel_row(platform, body["sessionId"])).service_ports[0]["host_ports"] == [30001]
    assert (await session_row(platform, body["sessionId"])).status is SessionStatus.RUNNING
    resp = await platform.signed("DELETE", "/session/info-1?forced=true")
    assert resp.status == 403
    admin = platform.users.demo.access_key
    resp = await platform.signed(
        "DELETE", f"/session/info-1?forced=true&owner_access_key={admin}", as_="superadmin"
    )
    assert resp.status == 200
    await wait_status(platform, body["sessionId"], SessionStatus.TERMINATED)


async def test_gql_lists_sessions_with_occupied_slots(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    await create(platform, "gql-1", config={"resources": {"cpu": "1", "mem": "512m"}})
    q = (
        "query($limit:Int!, $offset:Int!, $status: String) { compute_session_list(limit:$limit,"
        " offset:$offset, status:$status) { items { name status occupied_slots } total_count } }"
    )
    body = await platform.gql(q, {"limit": 20, "offset": 0, "status": "RUNNING"})
    [item] = body["data"]["compute_session_list"]["items"]
    assert item["name"] == "gql-1" and item["status"] == "RUNNING"
    assert json.loads(item["occupied_slots"]) == {"cpu": "1", "mem": "536870912"}
