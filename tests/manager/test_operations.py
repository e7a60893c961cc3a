"""Operations through the REST API, with the shapes Backend.AI's client 20.9.9 sends: the shared
configuration (``admin etcd``), the announcement, ``manager status/freeze/unfreeze``,
dotfiles (and what a new session's kernel is given), the server error log, and the features
of other editions."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.exc import OperationalError

from backendai.common.statuses import SessionStatus
from backendai.manager.db.models import ErrorLog
from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import create, json_of, wait_status
from tests.manager.fake_agent import FakeAgent
from tests.manager.tenants import Tenants, add_tenants


@pytest.fixture
async def tenants(platform: ManagerHarness) -> Tenants:
    return await add_tenants(platform)


# --- admin etcd ---------------------------------------------------------------------------


async def test_config_set_get_delete_with_prefixes(tenants: Tenants) -> None:
    call = tenants.call
    ok = {"result": "ok"}
    assert await call("superadmin", "POST", "/config/set", {"key": "config/a", "value": "1"}) == (
        200,
        ok,
    )
    nested = {"key": "config/docker/", "value": {"registry": {"x.io": {"": "http://x"}}, "n": 3}}
    assert (await call("superadmin", "POST", "/config/set", nested))[0] == 200
    await call("superadmin", "POST", "/config/set", {"key": "config/dockerfile", "value": "no"})
    status, body = await call("superadmin", "POST", "/config/get", {"key": "/config/a"})
    assert (status, body) == (200, {"result": "1"})
    _, body = await call(
        "superadmin", "POST", "/config/get", {"key": "config/docker", "prefix": True}
    )
    assert body == {"result": {"n": "3", "registry": {"x.io": "http://x"}}}
    _, body = await call("superadmin", "POST", "/config/get", {"key": "config/nothing"})
    assert body == {"result": None}
    assert await call(
        "superadmin", "POST", "/config/delete", {"key": "config/docker", "prefix": True}
    ) == (200, ok)
    _, body = await call("superadmin", "POST", "/config/get", {"key": "config", "prefix": True})
    assert body == {"result": {"a": "1", "dockerfile": "no"}}
    await call("superadmin", "POST", "/config/delete", {"key": "config/a"})
    _, body = await call("superadmin", "POST", "/config/get", {"key": "config/a"})
    assert body == {"result": None}


@pytest.mark.parametrize("key", ["", "/", "a/../b", "a/./b", "x" * 600])
async def test_config_refuses_bad_keys(tenants: Tenants, key: str) -> None:
    status, body = await tenants.call("superadmin", "POST", "/config/set", {"key": key, "value": 1})
    assert status == 400, body


# --- announcement and manager status -------------------------------------------------------


async def test_announcement_posted_by_superadmin_read_by_everyone(tenants: Tenants) -> None:
    call = tenants.call
    assert await call("demo", "GET", "/manager/announcement") == (
        200,
        {"enabled": False, "message": ""},
    )
    body = {"enabled": True, "message": "Maintenance at 18:00"}
    assert (await call("superadmin", "POST", "/manager/announcement", body))[0] == 204
    for who in ("demo", "mon", "dadmin", "carol"):
        assert await call(who, "GET", "/manager/announcement") == (
            200,
            {"enabled": True, "message": "Maintenance at 18:00"},
        )
    status, problem = await call("dadmin", "POST", "/manager/announcement", body)
    assert status == 403 and "may not update announcements" in problem["msg"]
    await call("superadmin", "POST", "/manager/announcement", {"enabled": False, "message": None})
    assert (await call("demo", "GET", "/manager/announcement"))[1]["enabled"] is False


async def test_freeze_refuses_new_sessions_until_unfrozen(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    resp = await platform.signed("GET", "/manager/status")
    assert await resp.json() == {"status": "running", "active_sessions": 0}
    status, _ = await create(platform, "before-freeze", enqueueOnly=True)
    assert status == 201
    resp = await platform.signed(
        "PUT", "/manager/status", as_="superadmin", body={"status": "frozen", "force_kill": False}
    )
    assert resp.status == 204
    resp = await platform.signed("GET", "/manager/status")
    assert await resp.json() == {"status": "frozen", "active_sessions": 1}
    status, problem = await create(platform, "while-frozen")
    assert status == 503
    assert problem["type"].endswith("/server-frozen")
    assert "backend.ai manager unfreeze" in problem["msg"]
    # A user may not unfreeze it.
    resp = await platform.signed("PUT", "/manager/status", body={"status": "running"})
    assert resp.status == 403
    resp = await platform.signed(
        "PUT", "/manager/status", as_="superadmin", body={"status": "running"}
    )
    assert resp.status == 204
    status, body = await create(platform, "after-unfreeze", enqueueOnly=True)
    assert status == 201, body
    # The refusal is an answer, not a server error: nothing is in the error log.
    resp = await platform.signed("GET", "/logs/error", as_="superadmin")
    assert (await resp.json())["count"] == 0


async def test_freeze_with_force_kill_ends_running_sessions(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    status, body = await create(platform, "to-be-killed", enqueueOnly=True)
    assert status == 201
    await wait_status(platform, body["sessionId"], SessionStatus.RUNNING)
    resp = await platform.signed(
        "PUT", "/manager/status", as_="superadmin", body={"status": "frozen", "force_kill": True}
    )
    assert resp.status == 204
    await wait_status(platform, body["sessionId"], SessionStatus.TERMINATED)


# --- dotfiles -------------------------------------------------------------------------------


async def test_user_dotfile_crud_as_the_client_sends_it(tenants: Tenants) -> None:
    call = tenants.call
    body = {"data": "alias ll='ls -l'\n", "path": ".bashrc", "permission": "755"}
    assert await call("demo", "POST", "/user-config/dotfiles", body) == (200, {})
    status, problem = await call("demo", "POST", "/user-config/dotfiles", body)
    assert status == 400 and "dotfile update" in problem["msg"]
    # The client's list call spells the owner "onwer_access_key".
    ak = tenants["demo"].access_key
    assert await call("demo", "GET", f"/user-config/dotfiles?onwer_access_key={ak}") == (
        200,
        [{"path": ".bashrc", "permission": "755", "data": "alias ll='ls -l'\n"}],
    )
    update = {"data": "export A=1\n", "path": ".bashrc", "permission": "644"}
    assert (await call("demo", "PATCH", "/user-config/dotfiles", update))[0] == 200
    assert await call("demo", "GET", "/user-config/dotfiles?path=.bashrc") == (
        200,
        {"path": ".bashrc", "permission": "644", "data": "export A=1\n"},
    )
    assert await call("demo", "DELETE", "/user-config/dotfiles?path=.bashrc") == (
        200,
        {"success": True},
    )
    status, _ = await call("demo", "GET", "/user-config/dotfiles?path=.bashrc")
    assert status == 404


@pytest.mark.parametrize(
    "path",
    ["../x", "a/../../etc/passwd", "/etc/passwd", "/home/work", "/home/workx/a", "", ".",
     "a\\b", ".ssh/authorized_keys", "x" * 300],
)  # fmt: skip
async def test_hostile_dotfile_paths_are_refused(tenants: Tenants, path: str) -> None:
    body = {"data": "x", "path": path, "permission": "644"}
    status, problem = await tenants.call("demo", "POST", "/user-config/dotfiles", body)
    assert status == 400, problem


@pytest.mark.parametrize("permission", ["4755", "999", "rw", "7777", "1"])
async def test_bad_permissions_are_refused(tenants: Tenants, permission: str) -> None:
    body = {"data": "x", "path": ".x", "permission": permission}
    status, _ = await tenants.call("demo", "POST", "/user-config/dotfiles", body)
    assert status == 400


async def test_dotfile_size_and_count_are_bounded(tenants: Tenants) -> None:
    big = {"data": "x" * 40_000, "path": ".a", "permission": "644"}
    assert (await tenants.call("demo", "POST", "/user-config/dotfiles", big))[0] == 200
    status, problem = await tenants.call(
        "demo", "POST", "/user-config/dotfiles", big | {"path": ".b"}
    )
    assert status == 400 and "bytes" in problem["msg"]
    for i in range(99):
        small = {"data": "", "path": f".f{i}", "permission": "644"}
        assert (await tenants.call("demo", "POST", "/user-config/dotfiles", small))[0] == 200
    status, problem = await tenants.call(
        "demo", "POST", "/user-config/dotfiles", {"data": "", "path": ".last"}
    )
    assert status == 400 and "at most 100" in problem["msg"]


async def test_absolute_path_under_home_is_stored_relative(tenants: Tenants) -> None:
    body = {"data": "x", "path": "/home/work/.config/app.toml", "permission": "600"}
    assert (await tenants.call("demo", "POST", "/user-config/dotfiles", body))[0] == 200
    _, listed = await tenants.call("demo", "GET", "/user-config/dotfiles")
    assert listed == [{"path": ".config/app.toml", "permission": "600", "data": "x"}]


async def test_new_session_gets_user_over_group_over_domain(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    async def post(route: str, path: str, data: str, **scope: str) -> None:
        body = {"data": data, "path": path, "permission": "644", **scope}
        resp = await platform.signed("POST", route, as_="superadmin", body=body)
        assert resp.status == 200, await resp.text()

    demo_key = platform.users.demo.access_key
    await post("/domain-config/dotfiles", ".bashrc", "domain", domain="default")
    await post("/domain-config/dotfiles", ".domain-only", "d", domain="default")
    await post("/group-config/dotfiles", ".bashrc", "group", group="default", domain="default")
    await post("/group-config/dotfiles", ".profile", "group", group="default", domain="default")
    await post("/user-config/dotfiles", ".profile", "user", owner_access_key=demo_key)
    status, body = await create(platform, "with-dotfiles")
    assert status == 201, body
    sent = {d.path: d.data for d in joined.create_calls[-1].dotfiles}
    assert sent == {".bashrc": "group", ".domain-only": "d", ".profile": "user"}


async def test_group_dotfiles_need_an_admin_to_change(tenants: Tenants) -> None:
    body = {"data": "x", "path": ".g", "permission": "644", "group": "dteam", "domain": "default"}
    # bob is a member of dteam: he reads its dotfiles, but may not change them.
    status, problem = await tenants.call("bob", "POST", "/group-config/dotfiles", body)
    assert status == 403, problem
    assert (await tenants.call("dadmin", "POST", "/group-config/dotfiles", body))[0] == 200
    status, listed = await tenants.call(
        "bob", "GET", "/group-config/dotfiles?group=dteam&domain=default"
    )
    assert status == 200 and [d["path"] for d in listed] == [".g"]
    # An admin of another domain is told the group does not exist.
    status, problem = await tenants.call("oadmin", "POST", "/group-config/dotfiles", body)
    assert status == 404, problem


# --- server error log -----------------------------------------------------------------------


async def test_a_5xx_is_recorded_and_listed(
    platform: ManagerHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("the status broke")

    monkeypatch.setattr(platform.ctx.manager_status, "status", broken)
    resp = await platform.signed("GET", "/manager/status")
    assert resp.status == 500
    resp = await platform.signed("GET", "/logs/error?mark_read=False&page_size=20&page_no=1")
    listed = await json_of(resp)
    assert listed["count"] == 1
    entry = listed["logs"][0]
    assert entry["severity"] == "error" and entry["source"] == "manager"
    assert entry["request_status"] == 500 and entry["request_url"] == "GET /manager/status"
    assert "the status broke" in entry["message"] and "RuntimeError" in entry["traceback"]
    assert entry["user"] is not None  # the demo user's request
    assert isinstance(entry["created_at"], float) and entry["is_read"] is False


async def test_a_busy_database_is_answered_not_recorded(
    platform: ManagerHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 503 with Retry-After (here a locked database) is an answer to retry, not an error:
    recording it would wait on the busy database itself."""

    async def locked(*args: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("database is locked"))

    monkeypatch.setattr(platform.ctx.manager_status, "status", locked)
    resp = await platform.signed("GET", "/manager/status")
    assert resp.status == 503 and resp.headers["Retry-After"] == "2"
    monkeypatch.undo()
    resp = await platform.signed("GET", "/logs/error")
    assert (await json_of(resp))["count"] == 0


async def test_an_agent_error_is_recorded(platform: ManagerHarness) -> None:
    agent = FakeAgent(fail_create="the image is broken")
    await agent.start()
    try:
        assert await agent.send_heartbeat(platform) == 200
        status, body = await create(platform, "fails-to-start", enqueueOnly=True)
        assert status == 201
        await wait_status(platform, body["sessionId"], SessionStatus.ERROR)
    finally:
        await agent.close()
    resp = await platform.signed("GET", "/logs/error")
    logs = (await resp.json())["logs"]
    assert [entry["source"] for entry in logs] == ["agent:agent-1"]
    assert "the image is broken" in logs[0]["message"]


async def _seed_logs(tenants: Tenants) -> dict[str, uuid.UUID]:
    ids: dict[str, uuid.UUID] = {}
    async with tenants.harness.ctx.db() as db, db.begin():
        for name in ("demo", "bob", "dadmin2", "carol", "superadmin", "mon", None):
            entry = ErrorLog(
                message=f"error of {name}", user=tenants[name].uuid if name else None,
                request_status=500,
            )  # fmt: skip
            db.add(entry)
            await db.flush()
            ids[name or "nobody"] = entry.id
    return ids


VISIBLE = {
    "superadmin": {"demo", "bob", "dadmin2", "carol", "superadmin", "mon", "nobody"},
    "mon": {"demo", "bob", "dadmin2", "carol", "superadmin", "mon", "nobody"},
    "dadmin": {"demo", "bob", "dadmin2"},
    "demo": {"demo"},
    "carol": {"carol"},
}


@pytest.mark.parametrize("who", sorted(VISIBLE))
async def test_error_log_visibility_and_marking(tenants: Tenants, who: str) -> None:
    ids = await _seed_logs(tenants)
    names = {v: k for k, v in ids.items()}
    status, body = await tenants.call(who, "GET", "/logs/error?page_size=100")
    assert status == 200
    assert {names[uuid.UUID(e["log_id"])] for e in body["logs"]} == VISIBLE[who]
    assert body["count"] == len(VISIBLE[who])
    status, body = await tenants.call(who, "GET", "/logs/error?mark_read=True&page_size=100")
    if who == "mon":  # a monitor looks, never changes
        assert status == 403
        return
    assert status == 200
    _, body = await tenants.call(who, "GET", "/logs/error?page_size=100")
    assert all(e["is_read"] for e in body["logs"])
    target = ids["demo"]
    status, _ = await tenants.call(who, "POST", f"/logs/error/{target}/clear")
    if "demo" in VISIBLE[who]:
        assert status == 200
        _, body = await tenants.call(who, "GET", "/logs/error?page_size=100")
        assert str(target) not in {e["log_id"] for e in body["logs"]}
    else:
        assert status in (403, 404)


async def test_error_log_paging_newest_first(tenants: Tenants) -> None:
    await _seed_logs(tenants)
    _, first = await tenants.call("superadmin", "GET", "/logs/error?page_size=3&page_no=1")
    _, third = await tenants.call("superadmin", "GET", "/logs/error?page_size=3&page_no=3")
    assert len(first["logs"]) == 3 and len(third["logs"]) == 1 and first["count"] == 7
    stamps = [e["created_at"] for e in first["logs"]]
    assert stamps == sorted(stamps, reverse=True)
    status, _ = await tenants.call("superadmin", "GET", "/logs/error?page_size=0")
    assert status == 400


# --- other editions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "route", "words"),
    [("GET", "/license", "open edition"), ("GET", "/resource/watcher", "not available"),
     ("POST", "/resource/watcher/agent/restart", "not available")],
)  # fmt: skip
async def test_other_editions_features_say_so(
    tenants: Tenants, method: str, route: str, words: str
) -> None:
    status, problem = await tenants.call("superadmin", method, route, {"agent_id": "i-1"})
    assert status == 404 and words in problem["msg"]
    assert problem["type"].endswith("/not-available")
    _, logs = await tenants.call("superadmin", "GET", "/logs/error")
    assert logs["count"] == 0
