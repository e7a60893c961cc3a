"""Authorization probes for the VFOLDER rows of the table (list, read, create, use, update,
delete): every role against the real /folders endpoints (and the real storage process), with
the expected reach written out here independently of ``backendai.manager.authz``.

Every tenant owns one user folder ``f-<tenant>``; an actor reaches a folder when its row's
scope covers the folder's owner (own: itself; domain: its domain's users ranking no higher;
all: everyone). What it may not reach answers 404 exactly like a folder that does not exist.
Group folders are what CREATE is about (a user creates its own folders without the row).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from backendai.common.vfolders import VFOLDER_HOST_PERMISSIONS
from backendai.manager.db.models import Domain
from tests.fixtures.platform import ManagerHarness
from tests.manager.tenants import Tenants, add_tenants

ROLES = ["superadmin", "dadmin", "mon", "demo"]  # superadmin, admin, monitor, user
TENANTS = ["superadmin", "dadmin", "dadmin2", "mon", "demo", "bob", "oadmin", "carol"]
DEFAULT_DOMAIN = {"superadmin", "dadmin", "dadmin2", "mon", "demo", "bob"}
# scope -> actor -> the tenants whose folders it reaches
REACH = {
    "all": {a: set(TENANTS) for a in ROLES},
    "domain": {"dadmin": {"dadmin", "dadmin2", "demo", "bob"}},  # never a monitor or superadmin
    "own": {a: {a} for a in ROLES},
    "none": {a: set() for a in ROLES},
}
ROWS = {  # action -> (superadmin, admin, monitor, user)
    "list": ("all", "domain", "all", "own"),
    "read": ("all", "domain", "own", "own"),
    "create": ("all", "domain", "none", "none"),
    "use": ("all", "domain", "own", "own"),
    "update": ("all", "domain", "own", "own"),
    "delete": ("all", "domain", "own", "own"),
}
PROBES = [("vfolder", action) for action in ROWS]
GROUPS = {"default/dteam", "other/default"}
GROUP_REACH = {"all": GROUPS, "domain": {"default/dteam"}, "none": set()}


def expected(actor: str, action: str) -> set[str]:
    scope = ROWS[action][ROLES.index(actor)]
    return REACH[scope][actor]


@pytest.fixture
async def world(platform: ManagerHarness) -> tuple[Tenants, dict[str, str]]:
    pytest.importorskip("backendai.storage.app")
    tenants = await add_tenants(platform)
    async with platform.ctx.db() as db, db.begin():
        await db.execute(
            sa.update(Domain).values(
                allowed_vfolder_hosts={"local": list(VFOLDER_HOST_PERMISSIONS)}
            )
        )
    ids = {}
    for name in TENANTS:
        status, body = await tenants.call(name, "POST", "/folders", {"name": f"f-{name}"})
        assert status == 201, body
        ids[name] = body["id"]
    return tenants, ids


def outcome(status: int, body: Any, ok: int) -> bool:
    if status == ok:
        return True
    assert status in (403, 404), (status, body)
    return False


async def probe(w: Tenants, ids: dict[str, str], actor: str, action: str, target: str) -> bool:
    ref = ids[target]
    if action == "read":
        return outcome(*await w.call(actor, "GET", f"/folders/{ref}"), 200)
    if action == "use":
        return outcome(*await w.call(actor, "GET", f"/folders/{ref}/files", {"path": "."}), 200)
    if action == "update":
        body = {"cloneable": False}
        return outcome(*await w.call(actor, "POST", f"/folders/{ref}/update-options", body), 201)
    assert action == "delete"
    ok = outcome(*await w.call(actor, "DELETE", f"/folders/{ref}"), 204)
    if ok:  # back for the next probe, restored by its owner
        assert (await w.call(target, "POST", f"/folders/{ref}/restore"))[0] == 200
    return ok


@pytest.mark.parametrize("actor", ROLES)
async def test_vfolder_rows(world: tuple[Tenants, dict[str, str]], actor: str) -> None:
    w, ids = world
    ghost = uuid.uuid4().hex
    # list: "vfolder list -a" for those whose scope is wider than their own folders.
    body = {"all": ROWS["list"][ROLES.index(actor)] != "own"}
    status, found = await w.call(actor, "GET", "/folders", body)
    assert status == 200, found
    listed = {t for t, i in ids.items() if i in {f["id"] for f in found}}
    assert listed == expected(actor, "list")
    for action in ("read", "use", "update", "delete"):
        reached = {t for t in TENANTS if await probe(w, ids, actor, action, t)}
        assert reached == expected(actor, action), action
        # What it may not read answers exactly like a folder that does not exist.
        for t in set(TENANTS) - expected(actor, "read"):
            status, body = await w.call(actor, "GET", f"/folders/{ids[t]}")
            assert status == 404 and body["type"].endswith("/vfolder-not-found")
        status, body = await w.call(actor, "GET", f"/folders/{ghost}")
        assert status == 404 and body["type"].endswith("/vfolder-not-found")


@pytest.mark.parametrize("actor", ROLES)
async def test_vfolder_create_row(world: tuple[Tenants, dict[str, str]], actor: str) -> None:
    """CREATE is creating a group folder: admins within their reach, nobody else."""
    w, _ = world
    reached = set()
    for group in sorted(GROUPS):
        body = {"name": f"g-{actor}", "group": str(w.groups[group])}
        status, answer = await w.call(actor, "POST", "/folders", body)
        if outcome(status, answer, 201):
            reached.add(group)
            assert answer["ownership_type"] == "group" and answer["group"] == body["group"]
            assert (await w.call(actor, "DELETE", f"/folders/{answer['id']}"))[0] == 204
    assert reached == GROUP_REACH[ROWS["create"][ROLES.index(actor)]]
    # Anyone creates its own user folder (not the row's business).
    status, answer = await w.call(actor, "POST", "/folders", {"name": f"own-{actor}"})
    assert status == 201, answer
