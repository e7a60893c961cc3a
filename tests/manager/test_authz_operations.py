"""Authorization probes for the operations rows of the table (announcement, dotfile,
error-log, config, manager): every role against the real REST endpoints, with the expected
reach written out here independently of ``backendai.manager.authz``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from backendai.manager.db.models import ErrorLog
from tests.fixtures.platform import ManagerHarness
from tests.manager.tenants import Tenants, add_tenants

ROLES = ["superadmin", "dadmin", "mon", "demo"]  # superadmin, admin, monitor, user


@pytest.fixture
async def tenants(platform: ManagerHarness) -> Tenants:
    return await add_tenants(platform)


def ok(status: int) -> bool:
    assert status in (200, 204, 403, 404), status
    return status in (200, 204)


# --- announcement, config, manager: superadmin-only changes --------------------------------

ONLY_SUPERADMIN: list[tuple[str, str, Any]] = [
    ("POST", "/manager/announcement", {"enabled": True, "message": "hi"}),
    ("PUT", "/manager/status", {"status": "running"}),
    ("POST", "/config/get", {"key": "a"}),
    ("POST", "/config/set", {"key": "a", "value": "1"}),
    ("POST", "/config/delete", {"key": "a"}),
]
EVERYONE: list[tuple[str, str, Any]] = [
    ("GET", "/manager/announcement", None),
    ("GET", "/manager/status", None),
]


@pytest.mark.parametrize("who", ROLES)
async def test_announcement_config_and_manager_rows(tenants: Tenants, who: str) -> None:
    for method, route, body in ONLY_SUPERADMIN:
        status, problem = await tenants.call(who, method, route, body)
        assert ok(status) is (who == "superadmin"), (method, route)
        if who != "superadmin":
            assert status == 403 and "may not" in problem["msg"]
    for method, route, body in EVERYONE:
        assert ok((await tenants.call(who, method, route, body))[0]), route


# --- dotfiles -------------------------------------------------------------------------------

USER_TARGETS = ["self", "demo", "bob", "dadmin2", "carol", "superadmin"]
GROUP_TARGETS = ["default/dteam", "other/default"]
DOMAIN_TARGETS = ["default", "other"]
CHANGES = ("create", "update", "delete")
READS = ("list", "read")

# What each role reaches; "self" is the actor's own keypair.
EXPECTED_USER = {
    "superadmin": set(USER_TARGETS),
    "dadmin": {"self", "demo", "bob", "dadmin2"},  # its domain, ranks no higher than admin
    "mon": {"self"},
    "demo": {"self", "demo"},
}
EXPECTED_GROUP_READ = {"superadmin": set(GROUP_TARGETS), "dadmin": {"default/dteam"},
                       "mon": set(), "demo": set()}  # fmt: skip
EXPECTED_GROUP_CHANGE = EXPECTED_GROUP_READ
EXPECTED_DOMAIN_READ = {"superadmin": set(DOMAIN_TARGETS), "dadmin": {"default"},
                        "mon": {"default"}, "demo": {"default"}}  # fmt: skip
EXPECTED_DOMAIN_CHANGE = {"superadmin": set(DOMAIN_TARGETS), "dadmin": {"default"},
                          "mon": set(), "demo": set()}  # fmt: skip


def scope_of(tenants: Tenants, who: str, kind: str, target: str) -> tuple[str, dict[str, str]]:
    if kind == "user":
        owner = who if target == "self" else target
        return "user", {"owner_access_key": tenants[owner].access_key}
    if kind == "group":
        domain, name = target.split("/")
        return "group", {"group": name, "domain": domain}
    return "domain", {"domain": target}


async def probe(tenants: Tenants, who: str, kind: str, target: str, action: str) -> bool:
    scope, params = scope_of(tenants, who, kind, target)
    route = f"/{scope}-config/dotfiles"
    # The thing acted on exists (made by a superadmin) for read, update and delete.
    body = {"data": "x", "path": ".probe", "permission": "644", **params}
    await tenants.call("superadmin", "POST", route, body)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    if action == "list":
        status, listed = await tenants.call(who, "GET", f"{route}?{query}")
        if status == 200:
            assert ".probe" in [d["path"] for d in listed]
    elif action == "read":
        status, _ = await tenants.call(who, "GET", f"{route}?path=.probe&{query}")
    elif action == "create":
        status, _ = await tenants.call(
            who, "POST", route, body | {"path": f".new-{uuid.uuid4().hex[:8]}"}
        )
    elif action == "update":
        status, _ = await tenants.call(who, "PATCH", route, body | {"data": "y"})
    else:
        status, _ = await tenants.call(who, "DELETE", f"{route}?path=.probe&{query}")
    return ok(status)


@pytest.mark.parametrize("who", ROLES)
async def test_dotfile_rows(tenants: Tenants, who: str) -> None:
    cases = [("user", t, a, t in EXPECTED_USER[who]) for t in USER_TARGETS
             for a in (*READS, *CHANGES)]  # fmt: skip
    cases += [("group", t, a, t in EXPECTED_GROUP_READ[who]) for t in GROUP_TARGETS for a in READS]
    cases += [("group", t, a, t in EXPECTED_GROUP_CHANGE[who]) for t in GROUP_TARGETS
              for a in CHANGES]  # fmt: skip
    cases += [("domain", t, a, t in EXPECTED_DOMAIN_READ[who]) for t in DOMAIN_TARGETS
              for a in READS]  # fmt: skip
    cases += [("domain", t, a, t in EXPECTED_DOMAIN_CHANGE[who]) for t in DOMAIN_TARGETS
              for a in CHANGES]  # fmt: skip
    outcomes = {(k, t, a): await probe(tenants, who, k, t, a) for k, t, a, _ in cases}
    expected = {(k, t, a): allowed for k, t, a, allowed in cases}
    assert outcomes == expected


async def test_unknown_owners_read_like_forbidden_ones(tenants: Tenants) -> None:
    """An admin is told "not found" alike for another domain's group and for no group."""
    other = await tenants.call("dadmin", "GET", "/group-config/dotfiles?group=default&domain=other")
    ghost = await tenants.call("dadmin", "GET", f"/group-config/dotfiles?group={uuid.uuid4()}")
    assert other[0] == ghost[0] == 404 and other[1]["type"] == ghost[1]["type"]
    # A user is refused alike for someone else's keypair and for one that does not exist.
    bob = await tenants.call(
        "demo", "GET", f"/user-config/dotfiles?owner_access_key={tenants['bob'].access_key}"
    )
    nobody = await tenants.call("demo", "GET", "/user-config/dotfiles?owner_access_key=AKNOBODY")
    assert bob == nobody and bob[0] == 403


# --- error log ------------------------------------------------------------------------------

OWNERS = ["demo", "bob", "dadmin2", "mon", "carol", "superadmin", None]
EXPECTED_LIST = {
    "superadmin": set(map(str, OWNERS)),
    "dadmin": {"demo", "bob", "dadmin2"},
    "mon": set(map(str, OWNERS)),
    "demo": {"demo"},
}
EXPECTED_UPDATE = {
    "superadmin": set(map(str, OWNERS)),
    "dadmin": {"demo", "bob", "dadmin2"},
    "mon": set(),
    "demo": {"demo"},
}


@pytest.mark.parametrize("who", ROLES)
async def test_error_log_rows(tenants: Tenants, who: str) -> None:
    ids: dict[str, uuid.UUID] = {}
    async with tenants.harness.ctx.db() as db, db.begin():
        for owner in OWNERS:
            entry = ErrorLog(message="e", user=tenants[owner].uuid if owner else None)
            db.add(entry)
            await db.flush()
            ids[str(owner)] = entry.id
    status, body = await tenants.call(who, "GET", "/logs/error?page_size=100")
    assert status == 200
    by_id = {str(v): k for k, v in ids.items()}
    assert {by_id[e["log_id"]] for e in body["logs"]} == EXPECTED_LIST[who]
    cleared = set()
    for owner, log_id in ids.items():
        status, _ = await tenants.call(who, "POST", f"/logs/error/{log_id}/clear")
        if ok(status):
            cleared.add(owner)
    assert cleared == EXPECTED_UPDATE[who]
