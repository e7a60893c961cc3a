"""``vfolder_list`` (``admin vfolders``): each role sees exactly the folders within its reach."""

from __future__ import annotations

import uuid

import pytest

from backendai.common.statuses import VFolderOwnership, VFolderPermission
from backendai.manager.db.models import VFolder, VFolderShare
from tests.fixtures.platform import ManagerHarness
from tests.manager.tenants import Tenants, add_tenants

QUERY = """query($g: UUID, $ak: String) {
  vfolder_list(limit: 100, offset: 0, group_id: $g, access_key: $ak) {
    items { name host user user_email group group_name permission ownership_type max_size }
    total_count
  }
}"""


@pytest.fixture
async def tenants(platform: ManagerHarness) -> Tenants:
    t = await add_tenants(platform)
    async with platform.ctx.db() as db, db.begin():
        for owner in ("demo", "bob", "carol", "dadmin", "superadmin"):
            db.add(VFolder(name=f"f-{owner}", host="local", user=t[owner].uuid,
                           creator=t[owner].email, max_size=2**40))  # fmt: skip
        db.add(VFolder(name="f-dteam", host="local", group=t.groups["default/dteam"],
                       ownership_type=VFolderOwnership.GROUP, domain_name="default"))  # fmt: skip
        shared = VFolder(id=uuid.uuid4(), name="f-shared-by-carol", host="local",
                         user=t["carol"].uuid)  # fmt: skip
        db.add(shared)
        await db.flush()
        db.add(VFolderShare(vfolder=shared.id, user=t["demo"].uuid,
                            permission=VFolderPermission.READ_ONLY))  # fmt: skip
    return t


async def names(t: Tenants, who: str, **variables: object) -> set[str]:
    body = await t.gql(who, QUERY, variables)
    assert not body.get("errors"), body
    data = body["data"]["vfolder_list"]
    assert data["total_count"] == len(data["items"])
    return {item["name"] for item in data["items"]}


ALL = {"f-demo", "f-bob", "f-carol", "f-dadmin", "f-superadmin", "f-dteam", "f-shared-by-carol"}


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("superadmin", ALL),
        ("mon", ALL),
        # A domain admin: its domain's users' and groups' folders, never a superadmin's.
        ("dadmin", {"f-demo", "f-bob", "f-dadmin", "f-dteam"}),
        ("oadmin", {"f-carol", "f-shared-by-carol"}),
        # A user: its own, its groups', and those shared with it.
        ("demo", {"f-demo", "f-shared-by-carol"}),
        ("bob", {"f-bob", "f-dteam"}),
        ("carol", {"f-carol", "f-shared-by-carol"}),
    ],
)
async def test_each_role_lists_the_folders_within_its_reach(
    tenants: Tenants, who: str, expected: set[str]
) -> None:
    assert await names(tenants, who) == expected


async def test_filters_by_group_and_access_key_within_reach(tenants: Tenants) -> None:
    dteam = str(tenants.groups["default/dteam"])
    assert await names(tenants, "superadmin", g=dteam) == {"f-dteam"}
    assert await names(tenants, "superadmin", ak=tenants["bob"].access_key) == {"f-bob"}
    # Another domain's user through an access key: still nothing beyond the admin's reach.
    assert await names(tenants, "dadmin", ak=tenants["carol"].access_key) == set()
    assert await names(tenants, "demo", ak=tenants["bob"].access_key) == set()


async def test_items_carry_owner_and_group_names(tenants: Tenants) -> None:
    body = await tenants.gql("bob", QUERY)
    items = {i["name"]: i for i in body["data"]["vfolder_list"]["items"]}
    assert items["f-bob"]["user_email"] == "bob@example.com"
    assert items["f-bob"]["max_size"] == 2**40
    assert items["f-dteam"]["group_name"] == "dteam"
    assert items["f-dteam"]["ownership_type"] == "group"


async def test_filter_and_order_expressions_stay_within_reach(tenants: Tenants) -> None:
    query = QUERY.replace("$ak: String)", "$ak: String, $f: String, $o: String)").replace(
        "access_key: $ak)", "access_key: $ak, filter: $f, order: $o)"
    )

    async def found(who: str, f: str, o: str | None = None) -> list[str]:
        body = await tenants.gql(who, query, {"f": f, "o": o})
        assert not body.get("errors"), body
        return [item["name"] for item in body["data"]["vfolder_list"]["items"]]

    assert await found("superadmin", 'user_email icontains "CAROL"', "-name") == [
        "f-shared-by-carol", "f-carol",
    ]  # fmt: skip
    both = 'ownership_type == "group" | max_size > 1000'
    assert sorted(await found("superadmin", both)) == sorted(ALL - {"f-shared-by-carol"})
    # A user's filter naming another's folders finds only what the user may see.
    assert await found("bob", 'name like "f-%"', "name") == ["f-bob", "f-dteam"]
    assert await found("demo", 'group_name == "dteam" | user_email == "bob@example.com"') == []
