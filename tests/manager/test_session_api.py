"""``POST/GET/PATCH/DELETE /session``: creation, reuse, clear refusals that leave nothing behind,
queueing, termination and cancellation, against the fake agent."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from backendai.common.statuses import SessionStatus
from backendai.manager.services import session_rows as session_rows_module
from tests.fixtures.platform import ManagerHarness, running_manager
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
    assert s.status_info == "needs 2 cpu; the most free on any agent of group default is 1"
    assert s.status_data["scheduler"]["predicate"] == "agent_capacity"
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
    monkeypatch.setattr(session_rows_module, "uuid", SimpleNamespace(uuid4=lambda: next(crafted)))
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
    assert (await kernel_row(platform, body["sessionId"])).service_ports[0]["container_ports"] == [
        7682
    ]
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


# Bad input is a 400 that says what was wrong, never a 500 nor a session that fails later ------

BAD_CREATES: list[tuple[str, dict[str, Any], str]] = [
    # (name, extra body, text the message must hold)
    ("trailing\n", {}, "Invalid session name 'trailing\\n'"),
    ("hugemem", {"config": {"resources": {"mem": "99999999999999999999999p"}}},
     "'99999999999999999999999p' is too large; at most 8 EiB"),
    ("hugecpu", {"config": {"resources": {"cpu": "99999999999"}}}, "at most 1000000"),
    ("hugeshm", {"config": {"resource_opts": {"shmem": "99999999999999999p"}}}, "too large"),
    ("cputrue", {"config": {"resources": {"cpu": True}}},
     "config.resources.cpu: true is not an amount"),
    ("cpulist", {"config": {"resources": {"cpu": [1]}}}, "[1] is not an amount"),
    ("cpuneg", {"config": {"resources": {"cpu": "-1"}}}, "Invalid amount for resource cpu"),
    ("cpunan", {"config": {"resources": {"cpu": "NaN"}}}, "Invalid amount for resource cpu"),
    ("cpuinf", {"config": {"resources": {"cpu": "Infinity"}}}, "Invalid amount for resource cpu"),
    ("port-neg", {"config": {"preopen_ports": [-1]}}, "-1 is not a port a session may open"),
    ("port-zero", {"config": {"preopen_ports": [0]}}, "0 is not a port a session may open"),
    ("port-big", {"config": {"preopen_ports": [70000]}}, "use 1024 to 65535"),
    ("port-bool", {"config": {"preopen_ports": [True]}}, "true is not a number"),
    ("env-eq", {"config": {"environ": {"A=B": "x"}}}, "invalid environment variable name 'A=B'"),
    ("env-sp", {"config": {"environ": {"A B": "x"}}}, "invalid environment variable name"),
    ("env-dig", {"config": {"environ": {"1A": "x"}}}, "not starting with a digit"),
    ("env-empty", {"config": {"environ": {"": "x"}}}, "invalid environment variable name ''"),
    ("env-nul", {"config": {"environ": {"A": "x\x00y"}}}, "config.environ.A contains a NUL"),
    ("env-long", {"config": {"environ": {"A": "x" * 70000}}}, "at most 65536 are allowed"),
    ("env-many", {"config": {"environ": {f"V{i}": "x" for i in range(300)}}}, "at most 256"),
    ("env-total", {"config": {"environ": {f"V{i}": "x" * 60000 for i in range(10)}}},
     "the environment takes"),
    ("starts-y", {"starts_at": "99999-01-01T00:00:00"}, "Invalid starts_at"),
    ("starts-d", {"starts_at": "99999999999d"}, "at most 366 days from now"),
    ("starts-far", {"starts_at": "9999-12-31T23:59:59-23:59"}, "Invalid starts_at"),
    ("starts-2y", {"starts_at": "800d"}, "at most 366 days from now"),
    ("tag-long", {"tag": "t" * 65}, "tag: String should have at most 64 characters"),
    ("maxwait", {"maxWaitSeconds": 10**30}, "maxWaitSeconds"),
    ("cluster", {"clusterSize": 10**30}, "single-container"),
    ("clustertrue", {"clusterSize": True}, "clusterSize: true is not a number"),
    ("surrogate", {"tag": "\ud800"}, "tag contains an unpaired UTF-16 surrogate"),
    ("nul-image", {"image": "python\x00"}, "image contains a NUL character"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "extra", "text"), BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
async def test_bad_create_input_is_a_clear_400(
    platform: ManagerHarness, joined: FakeAgent, name: str, extra: dict[str, Any], text: str
) -> None:
    status, body = await create(platform, name, enqueueOnly=True, **extra)
    assert status == 400, body
    assert body["type"] == PROBS + "invalid-api-params", body
    assert text in body["msg"], body["msg"]
    assert await count_sessions(platform) == 0
    assert joined.create_calls == []


async def test_good_edge_values_are_taken(platform: ManagerHarness, joined: FakeAgent) -> None:
    """The bounds do not refuse what the client legitimately sends."""
    status, body = await create(
        platform, "edge_ok.1", enqueueOnly=True, starts_at="1h", tag="t" * 64,
        config={"resources": {"cpu": 2, "mem": "2g"}, "preopen_ports": [1024, 65535, 1024],
                "environ": {"_A1": "x=y", "PATH": "/usr/bin"}},
    )  # fmt: skip
    assert status == 201, body
    k = await kernel_row(platform, body["sessionId"])
    assert k.preopen_ports == [1024, 65535]  # duplicates folded
    s = await session_row(platform, body["sessionId"])
    assert s.environ == {"_A1": "x=y", "PATH": "/usr/bin"} and s.starts_at is not None


async def raw_create(platform: ManagerHarness, raw: bytes) -> tuple[int, dict[str, Any]]:
    creds = platform.users.demo
    headers = platform.headers(creds.access_key, creds.secret_key, "POST", "/session")
    resp = await platform.client.post("/session", data=raw, headers=headers)
    return resp.status, await json_of(resp)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b'{"image": "python", "name": "nan-1", "maxWaitSeconds": NaN}', "NaN is not a JSON"),
        (b'{"image": "python", "name": "inf-1", "config": {"resources": {"cpu": Infinity}}}',
         "Infinity is not a JSON value"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'["python"]', "must be a JSON object"),
        (b'{"image": "python", "name": "\\u0000abc"}', "name contains a NUL character"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)  # fmt: skip
async def test_bad_json_is_a_clear_400(
    platform: ManagerHarness, joined: FakeAgent, raw: bytes, text: str
) -> None:
    status, body = await raw_create(platform, raw)
    assert status == 400, body
    assert text in body["msg"], body["msg"]
    assert await count_sessions(platform) == 0


async def raw_upload(
    platform: ManagerHarness, raw: bytes, content_type: str = "multipart/form-data; boundary=XX"
) -> tuple[int, dict[str, Any]]:
    creds = platform.users.demo
    mime = content_type.split(";")[0]
    headers = platform.headers(
        creds.access_key, creds.secret_key, "POST", "/session/up-bad/upload", mime
    )
    headers["Content-Type"] = content_type
    resp = await platform.client.post("/session/up-bad/upload", data=raw, headers=headers)
    return resp.status, await json_of(resp)


def _part(disposition: bytes, data: bytes = b"print(1)\n") -> bytes:
    return b"--XX\r\n" + disposition + b"\r\n\r\n" + data + b"\r\n--XX--\r\n"


@pytest.mark.parametrize(
    ("raw", "content_type", "text"),
    [
        # A raw newline in the file name cuts the part's header line in two.
        (_part(b'Content-Disposition: form-data; name="src"; filename="a\nb.py"'), None,
         "The multipart body is malformed (Invalid HTTP header"),
        (_part(b"Content-Disposition form-data"), None, "The multipart body is malformed"),
        (_part(b'Content-Disposition: form-data; name="src"; filename="a.py"'),
         "multipart/form-data", "boundary missed"),
        (b'--XX\r\nContent-Disposition: form-data; name="src"; filename="a.py"\r\n\r\nab', None,
         "The multipart body is malformed"),
        (b"no boundary at all", None, "Could not find starting boundary"),
        # Encoded, the newline arrives whole, and the file name itself is refused.
        (_part(b"Content-Disposition: form-data; name=\"src\"; filename*=utf-8''a%0Ab.py"), None,
         "no control characters"),
        (_part(b'Content-Disposition: form-data; name="src"'), None, "Invalid file name ''"),
        (b'--XX\r\nContent-Disposition: form-data; name="x"\r\n\r\nx\r\n' * 41 + b"--XX--\r\n",
         None, "Too many parts in the upload (at most 40)"),
        (b"{}", "application/json", "Not a multipart body"),
    ],
)  # fmt: skip
async def test_malformed_uploads_are_a_clear_400(
    platform: ManagerHarness, joined: FakeAgent, raw: bytes, content_type: str | None, text: str
) -> None:
    status, body = await create(platform, "up-bad")
    assert status == 201, body
    status, body = await raw_upload(
        platform, raw, content_type or "multipart/form-data; boundary=XX"
    )
    assert status == 400, body
    assert body["type"] == PROBS + "invalid-api-params"
    assert text in body["msg"], body["msg"]
    assert joined.uploads == []


@pytest.mark.parametrize(
    "url", ["/session/ab%00cd", "/session/abcd/logs?owner_access_key=%00x",
            "/events/session?sessionName=a%00&scope=*", "/session/%ED%A0%80abc"],
)  # fmt: skip
async def test_nul_in_references_is_a_400(tmp_path: Path, db_url: str, url: str) -> None:
    """PostgreSQL refuses NUL in text: a NUL that reached a query was a 500 there."""
    async with running_manager(tmp_path, db_url) as manager:
        resp = await manager.signed("GET", url)
        body = await json_of(resp)
        assert resp.status in (400, 404), body
        if "%00" in url:
            assert resp.status == 400 and "contains a NUL character" in body["msg"], body


async def test_unreadable_body_is_a_400(platform: ManagerHarness, joined: FakeAgent) -> None:
    """A body whose Content-Encoding does not decode: aiohttp raises as the handler reads it."""
    creds = platform.users.demo
    headers = platform.headers(creds.access_key, creds.secret_key, "POST", "/session")
    headers |= {"Content-Encoding": "gzip", "Connection": "close"}
    resp = await platform.client.post("/session", data=b"\x1f\x8b not gzip", headers=headers)
    body = await json_of(resp)
    assert resp.status == 400, body
    assert body["type"] == PROBS + "generic-bad-request"
    assert body["msg"].startswith("The request body could not be read: Can not decode"), body
    assert await count_sessions(platform) == 0
