"""Identity administration through the GraphQL mutations Backend.AI's client 20.9.9 sends:
users, keypairs, domains and groups, plus ``POST /auth/update-password``.

The probes at the end check every role (superadmin, domain admin, monitor, user) against each
create/update/delete of a user, keypair, group and domain, with the reach written out by hand
in ``tests/manager/test_authz.py``.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa

from backendai.common.statuses import UserStatus
from backendai.manager.db.models import Domain, Group, GroupMembership, KeyPair, Session, User
from tests.fixtures.platform import running_manager
from tests.manager.tenants import PASSWORD, Tenants, add_tenants

pytestmark = pytest.mark.asyncio(loop_scope="module")

# The documents exactly as the official client sends them (func/user.py, keypair.py, ...).
CREATE_USER = """mutation($email: String!, $input: UserInput!) {
    create_user(email: $email, props: $input) {
        ok msg user {domain_name email username}
    }
}"""
MODIFY_USER = """mutation($email: String!, $input: ModifyUserInput!) {
    modify_user(email: $email, props: $input) { ok msg }
}"""
DELETE_USER = "mutation($email: String!) { delete_user(email: $email) { ok msg } }"
PURGE_USER = """mutation($email: String!, $input: PurgeUserInput!) {
    purge_user(email: $email, props: $input) { ok msg }
}"""
CREATE_KEYPAIR = (
    "mutation($user_id: String!, $input: KeyPairInput!) {"
    "  create_keypair(user_id: $user_id, props: $input) {    ok msg keypair { access_key "
    "secret_key }  }}"
)
MODIFY_KEYPAIR = (
    "mutation($access_key: String!, $input: ModifyKeyPairInput!) {"
    "  modify_keypair(access_key: $access_key, props: $input) {    ok msg  }}"
)
DELETE_KEYPAIR = (
    "mutation($access_key: String!) {  delete_keypair(access_key: $access_key) {    ok msg  }}"
)
CREATE_DOMAIN = """mutation($name: String!, $input: DomainInput!) {
    create_domain(name: $name, props: $input) { ok msg domain {name} }
}"""
MODIFY_DOMAIN = """mutation($name: String!, $input: ModifyDomainInput!) {
    modify_domain(name: $name, props: $input) { ok msg }
}"""
DELETE_DOMAIN = "mutation($name: String!) { delete_domain(name: $name) { ok msg } }"
PURGE_DOMAIN = "mutation($name: String!) { purge_domain(name: $name) { ok msg } }"
CREATE_GROUP = """mutation($name: String!, $input: GroupInput!) {
    create_group(name: $name, props: $input) { ok msg group {id domain_name name} }
}"""
MODIFY_GROUP = """mutation($gid: UUID!, $input: ModifyGroupInput!) {
    modify_group(gid: $gid, props: $input) { ok msg }
}"""
DELETE_GROUP = "mutation($gid: UUID!) { delete_group(gid: $gid) { ok msg } }"
PURGE_GROUP = "mutation($gid: UUID!) { purge_group(gid: $gid) { ok msg } }"

made = itertools.count()


def user_input(domain: str = "default", role: str = "user", **extra: Any) -> dict[str, Any]:
    """``User.create``'s variables as the official CLI's ``admin users add`` fills them."""
    return {
        "password": "pw-1234", "username": "", "full_name": "", "role": role,
        "status": "active", "need_password_change": False, "description": "",
        "domain_name": domain, "group_ids": None,
    } | extra  # fmt: skip


def modify_input(**values: Any) -> dict[str, Any]:
    """``User.update``'s variables as the official CLI's ``admin users update`` fills them
    (it always sends ``role``, ``description`` and ``need_password_change``)."""
    base = dict.fromkeys(("password", "username", "full_name", "domain_name", "status",
                          "group_ids"))  # fmt: skip
    return base | {"role": "user", "need_password_change": False, "description": ""} | values


def keypair_input(policy: str = "default", **extra: Any) -> dict[str, Any]:
    return {"is_active": True, "is_admin": False, "resource_policy": policy,
            "rate_limit": 5000} | extra  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def t(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Tenants]:
    tmp: Path = tmp_path_factory.mktemp("identity")
    async with running_manager(tmp, scheduler_interval=60.0) as harness:
        yield await add_tenants(harness)


async def mutate(t: Tenants, who: str, query: str, variables: dict[str, Any]) -> Any:
    """The mutation's answer; a refusal as ``("refused", code, message)``."""
    body = await t.gql(who, query, variables)
    if body["errors"]:
        [error] = body["errors"]
        return ("refused", error["extensions"]["code"], error["message"])
    [answer] = body["data"].values()
    assert answer["ok"] is True and answer["msg"] == "success", answer
    return answer


async def count(t: Tenants, model: Any, *where: Any) -> int:
    async with t.harness.ctx.db() as db:
        q = sa.select(sa.func.count()).select_from(model).where(*where)
        return int(await db.scalar(q) or 0)


async def user_row(t: Tenants, email: str) -> User | None:
    async with t.harness.ctx.db() as db:
        return await db.scalar(sa.select(User).where(User.email == email))


# ---------------------------------------------------------------------------------------------
# Users


async def test_create_user_as_the_official_client_sends_it(t: Tenants) -> None:
    email = f"new{next(made)}@example.com"
    answer = await mutate(t, "superadmin", CREATE_USER, {"email": email, "input": user_input()})
    assert answer["user"] == {"domain_name": "default", "email": email, "username": email}
    user = await user_row(t, email)
    assert user is not None and user.status is UserStatus.ACTIVE
    # It joined its domain's default group and has a keypair, so it can log in at once.
    assert await count(t, GroupMembership, GroupMembership.user_id == user.uuid) == 1
    assert await count(t, KeyPair, KeyPair.user == user.uuid, KeyPair.is_active) == 1
    status, body = await t.call(
        "demo", "POST", "/auth/authorize",
        {"type": "keypair", "domain": "default", "username": email, "password": "pw-1234"},
    )  # fmt: skip
    assert status == 200, body
    assert body["data"]["role"] == "user"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"email": "demo@example.com", "input": user_input()}, "email demo@example.com already"),
        ({"email": "x@example.com", "input": user_input(domain="nosuch")}, "no domain named"),
        ({"email": "x@example.com", "input": user_input(role="root")}, "role"),
        ({"email": "not-an-email", "input": user_input()}, "not an email"),
        ({"email": "x@example.com", "input": user_input(username="bob")},
         "username bob already"),
        ({"email": "x@example.com", "input": user_input(group_ids=[str(uuid.uuid4())])},
         "No group"),
    ],
    ids=["duplicate-email", "unknown-domain", "bad-role", "bad-email", "duplicate-username",
         "unknown-group"],
)  # fmt: skip
async def test_bad_user_input_is_refused_whole(
    t: Tenants, variables: dict[str, Any], message: str
) -> None:
    users, keypairs = await count(t, User), await count(t, KeyPair)
    refused = await mutate(t, "superadmin", CREATE_USER, variables)
    assert refused[0] == "refused" and message.lower() in refused[2].lower(), refused
    assert (await count(t, User), await count(t, KeyPair)) == (users, keypairs)


async def test_domain_admin_creates_users_of_its_domain_no_higher_than_itself(t: Tenants) -> None:
    email = f"new{next(made)}@example.com"
    ok = await mutate(t, "dadmin", CREATE_USER, {"email": email, "input": user_input()})
    assert ok["user"]["domain_name"] == "default"
    for role in ("superadmin", "monitor"):
        refused = await mutate(t, "dadmin", CREATE_USER, {
            "email": f"new{next(made)}@example.com", "input": user_input(role=role)})  # fmt: skip
        assert refused == ("refused", "insufficient-privilege",
                           f"You may not create the {role} role.")  # fmt: skip
    refused = await mutate(t, "dadmin", CREATE_USER, {
        "email": f"new{next(made)}@example.com", "input": user_input(domain="other")})  # fmt: skip
    assert refused[:2] == ("refused", "insufficient-privilege")
    assert "domain other" in refused[2]


async def test_nobody_promotes_anyone_above_itself(t: Tenants) -> None:
    for who, role in [("demo", "superadmin"), ("dadmin", "superadmin"), ("bob", "monitor")]:
        target = "dadmin@example.com" if who == "dadmin" else t[who].email
        refused = await mutate(t, "dadmin", MODIFY_USER,
                               {"email": target, "input": modify_input(role=role)})  # fmt: skip
        assert refused[:2] == ("refused", "insufficient-privilege"), refused
        user = await user_row(t, target)
        assert user is not None and user.role.value in ("user", "admin")
    # A user may not call admin mutations at all, not even on itself.
    refused = await mutate(
        t, "demo", MODIFY_USER, {"email": t["demo"].email, "input": modify_input(full_name="x")}
    )
    assert refused == ("refused", "insufficient-privilege", "The user role may not update users.")


async def test_modify_user_changes_what_is_sent(t: Tenants) -> None:
    email = f"new{next(made)}@example.com"
    await mutate(t, "superadmin", CREATE_USER, {"email": email, "input": user_input()})
    answer = await mutate(t, "superadmin", MODIFY_USER, {"email": email, "input": modify_input(
        full_name="New Name", role="admin", need_password_change=True,
        group_ids=[str(t.groups["default/dteam"])])})  # fmt: skip
    assert answer == {"ok": True, "msg": "success"}
    user = await user_row(t, email)
    assert user is not None
    assert (user.full_name, user.role.value, user.need_password_change) == (
        "New Name", "admin", True)  # fmt: skip
    async with t.harness.ctx.db() as db:
        groups = set(
            await db.scalars(
                sa.select(GroupMembership.group_id).where(GroupMembership.user_id == user.uuid)
            )
        )
        admin_keys = set(await db.scalars(
            sa.select(KeyPair.is_admin).where(KeyPair.user == user.uuid)))  # fmt: skip
    assert groups == {t.groups["default/dteam"]}
    assert admin_keys == {True}  # an admin's keypairs follow its role


async def test_delete_inactivates_and_purge_removes(t: Tenants) -> None:
    email = f"new{next(made)}@example.com"
    await mutate(t, "superadmin", CREATE_USER, {"email": email, "input": user_input()})
    await mutate(t, "dadmin", DELETE_USER, {"email": email})
    user = await user_row(t, email)
    assert user is not None and user.status is UserStatus.DELETED
    assert await count(t, KeyPair, KeyPair.user == user.uuid, KeyPair.is_active) == 0
    await mutate(t, "dadmin", PURGE_USER, {"email": email, "input": {
        "purge_shared_vfolders": False}})  # fmt: skip
    assert await user_row(t, email) is None
    assert await count(t, KeyPair, KeyPair.user == user.uuid) == 0


async def test_purge_of_a_user_with_live_sessions_is_refused(t: Tenants) -> None:
    await t.create_session("carol", "carol-live")
    refused = await mutate(
        t,
        "superadmin",
        PURGE_USER,
        {"email": t["carol"].email, "input": {"purge_shared_vfolders": False}},
    )
    assert refused == ("refused", "invalid-api-params", "The user carol@example.com has 1 "
                       "session(s) that have not ended; terminate them first.")  # fmt: skip
    assert await user_row(t, t["carol"].email) is not None


# ---------------------------------------------------------------------------------------------
# Keypairs


async def test_keypair_create_shows_the_secret_to_its_creator_once(t: Tenants) -> None:
    made_kp = await mutate(
        t, "dadmin", CREATE_KEYPAIR, {"user_id": t["bob"].email, "input": keypair_input()}
    )
    key, secret = made_kp["keypair"]["access_key"], made_kp["keypair"]["secret_key"]
    assert key.startswith("AKIA") and len(secret) == 40
    q = "query($k: String) { keypair(access_key: $k) { secret_key rate_limit is_active } }"
    later = await t.gql("dadmin", q, {"k": key})
    assert later["data"]["keypair"] == {"secret_key": None, "rate_limit": 5000, "is_active": True}
    assert (await t.gql("superadmin", q, {"k": key}))["data"]["keypair"]["secret_key"] == secret
    # Deactivate, activate, update: exactly as the official client sends them.
    for active in (False, True):
        await mutate(t, "dadmin", MODIFY_KEYPAIR, {"access_key": key, "input": {
            "is_active": active, "is_admin": None, "resource_policy": None,
            "rate_limit": None}})  # fmt: skip
        assert (await t.gql("dadmin", q, {"k": key}))["data"]["keypair"]["is_active"] is active
    await mutate(t, "dadmin", MODIFY_KEYPAIR, {"access_key": key, "input": {"rate_limit": 7}})
    assert (await t.gql("dadmin", q, {"k": key}))["data"]["keypair"]["rate_limit"] == 7
    await mutate(t, "dadmin", DELETE_KEYPAIR, {"access_key": key})
    assert await count(t, KeyPair, KeyPair.access_key == key) == 0


async def test_keypair_refusals_name_the_problem(t: Tenants) -> None:
    before = await count(t, KeyPair)
    refused = await mutate(
        t,
        "superadmin",
        CREATE_KEYPAIR,
        {"user_id": t["bob"].email, "input": keypair_input("nosuch")},
    )
    assert refused[2] == "No keypair resource policy named 'nosuch'."
    refused = await mutate(
        t, "superadmin", CREATE_KEYPAIR, {"user_id": "ghost@example.com", "input": keypair_input()}
    )
    assert refused[2] == "No user ghost@example.com that you may see."
    # A domain admin cannot touch a superadmin's keypair, and reads it as absent.
    refused = await mutate(
        t,
        "dadmin",
        MODIFY_KEYPAIR,
        {"access_key": t["superadmin"].access_key, "input": {"rate_limit": 1}},
    )
    assert refused[2] == f"No keypair {t['superadmin'].access_key} that you may see."
    # A keypair its sessions refer to stays (deactivate it instead).
    await t.create_session("bob", "bob-kp")
    refused = await mutate(t, "superadmin", DELETE_KEYPAIR, {"access_key": t["bob"].access_key})
    assert "deactivate it instead" in refused[2]
    assert await count(t, KeyPair) == before


# ---------------------------------------------------------------------------------------------
# Domains and groups


async def test_domain_lifecycle(t: Tenants) -> None:
    name = f"dom{next(made)}"
    answer = await mutate(t, "superadmin", CREATE_DOMAIN, {"name": name, "input": {
        "description": "", "is_active": True, "total_resource_slots": "{}",
        "allowed_vfolder_hosts": ["local"], "allowed_docker_registries": [],
        "integration_id": None}})  # fmt: skip
    assert answer["domain"] == {"name": name}
    refused = await mutate(t, "superadmin", CREATE_DOMAIN, {"name": name, "input": {}})
    assert refused[2] == f"A domain named {name!r} already exists."
    await mutate(
        t,
        "superadmin",
        MODIFY_DOMAIN,
        {
            "name": name,
            "input": {
                "name": f"{name}x",
                "description": "renamed",
                "total_resource_slots": '{"cpu": 4}',
            },
        },
    )
    async with t.harness.ctx.db() as db:
        domain = await db.get_one(Domain, f"{name}x")
    assert (domain.description, domain.total_resource_slots) == ("renamed", {"cpu": "4"})
    await mutate(
        t,
        "superadmin",
        CREATE_USER,
        {"email": f"{name}@example.com", "input": user_input(domain=f"{name}x")},
    )
    await mutate(t, "superadmin", DELETE_DOMAIN, {"name": f"{name}x"})
    refused = await mutate(t, "superadmin", PURGE_DOMAIN, {"name": f"{name}x"})
    assert refused[2] == f"The domain {name}x still has 1 user(s); purge them first."
    await mutate(
        t,
        "superadmin",
        PURGE_USER,
        {"email": f"{name}@example.com", "input": {"purge_shared_vfolders": False}},
    )
    await mutate(t, "superadmin", PURGE_DOMAIN, {"name": f"{name}x"})
    assert await count(t, Domain, Domain.name == f"{name}x") == 0


async def test_group_lifecycle_and_members(t: Tenants) -> None:
    name = f"grp{next(made)}"
    answer = await mutate(t, "dadmin", CREATE_GROUP, {"name": name, "input": {
        "description": "", "is_active": True, "domain_name": "default",
        "total_resource_slots": "{}", "allowed_vfolder_hosts": [],
        "integration_id": None}})  # fmt: skip
    gid = answer["group"]["id"]
    assert answer["group"] == {"id": gid, "domain_name": "default", "name": name}
    refused = await mutate(
        t, "dadmin", CREATE_GROUP, {"name": name, "input": {"domain_name": "default"}}
    )
    assert refused[2] == f"A group named {name!r} already exists in the domain default."
    members = [str(t["demo"].uuid), str(t["bob"].uuid)]
    await mutate(t, "dadmin", MODIFY_GROUP, {"gid": gid, "input": {
        "user_update_mode": "add", "user_uuids": members}})  # fmt: skip
    in_group = GroupMembership.group_id == uuid.UUID(gid)
    assert await count(t, GroupMembership, in_group) == 2
    # Nobody out of reach is added: a superadmin, or a user of another domain.
    for outsider in ("superadmin", "carol"):
        refused = await mutate(t, "dadmin", MODIFY_GROUP, {"gid": gid, "input": {
            "user_update_mode": "add", "user_uuids": [str(t[outsider].uuid)]}})  # fmt: skip
        assert "that you may manage" in refused[2]
    await mutate(t, "dadmin", MODIFY_GROUP, {"gid": gid, "input": {
        "user_update_mode": "remove", "user_uuids": members[:1]}})  # fmt: skip
    assert await count(t, GroupMembership, in_group) == 1
    await mutate(
        t,
        "dadmin",
        MODIFY_GROUP,
        {
            "gid": gid,
            "input": {
                "name": f"{name}x",
                "description": "d",
                "is_active": None,
                "total_resource_slots": None,
                "allowed_vfolder_hosts": [],
                "integration_id": None,
            },
        },
    )
    await mutate(t, "dadmin", DELETE_GROUP, {"gid": gid})
    async with t.harness.ctx.db() as db:
        group = await db.get_one(Group, uuid.UUID(gid))
    assert (group.name, group.is_active) == (f"{name}x", False)
    await mutate(t, "dadmin", PURGE_GROUP, {"gid": gid})
    assert await count(t, Group, Group.id == uuid.UUID(gid)) == 0


async def test_purge_of_a_group_with_live_sessions_is_refused(t: Tenants) -> None:
    await t.create_session("oadmin", "oadmin-live")
    gid = str(t.groups["other/default"])
    refused = await mutate(t, "superadmin", PURGE_GROUP, {"gid": gid})
    assert "session(s) that have not ended" in refused[2]
    assert await count(t, Group, Group.id == uuid.UUID(gid)) == 1
    assert await count(t, Session, Session.group_id == uuid.UUID(gid)) >= 1


# ---------------------------------------------------------------------------------------------
# The same use cases on each database engine (PostgreSQL enforces what SQLite may let pass).


@pytest.mark.asyncio(loop_scope="function")
async def test_lifecycle_on_each_engine(db_url: str, tmp_path: Path) -> None:
    async with running_manager(tmp_path, db_url, scheduler_interval=60.0) as harness:
        e = await add_tenants(harness)
        email = "engine@example.com"
        await mutate(e, "superadmin", CREATE_USER, {"email": email, "input": user_input()})
        refused = await mutate(
            e, "superadmin", CREATE_USER, {"email": email, "input": user_input()}
        )
        assert refused[2] == f"A user with the email {email} already exists."
        await mutate(e, "superadmin", MODIFY_USER, {"email": email, "input": modify_input(
            role="admin", group_ids=[str(e.groups["default/dteam"])])})  # fmt: skip
        kp = await mutate(
            e, "superadmin", CREATE_KEYPAIR, {"user_id": email, "input": keypair_input()}
        )
        await mutate(e, "superadmin", DELETE_KEYPAIR, {"access_key": kp["keypair"]["access_key"]})
        await e.create_session("bob", "bob-engine")
        refused = await mutate(e, "superadmin", PURGE_USER, {"email": e["bob"].email, "input": {}})
        assert "have not ended" in refused[2]
        await mutate(e, "superadmin", PURGE_USER, {"email": email, "input": {}})
        await mutate(e, "superadmin", CREATE_DOMAIN, {"name": "eng", "input": {}})
        group = await mutate(
            e, "superadmin", CREATE_GROUP, {"name": "g", "input": {"domain_name": "eng"}}
        )
        await mutate(e, "superadmin", MODIFY_DOMAIN, {"name": "eng", "input": {"name": "eng2"}})
        async with harness.ctx.db() as db:
            moved = await db.get_one(Group, uuid.UUID(group["group"]["id"]))
        assert moved.domain_name == "eng2"
        await mutate(e, "superadmin", PURGE_DOMAIN, {"name": "eng2"})
        assert await count(e, Group, Group.domain_name == "eng2") == 0


# ---------------------------------------------------------------------------------------------
# update-password


async def test_update_password(t: Tenants) -> None:
    url = "/auth/update-password"
    body = {"old_password": "wrong", "new_password": "n3w-pass", "new_password2": "n3w-pass"}
    status, answer = await t.call("dadmin2", "POST", url, body)
    assert status == 403 and answer["msg"] == "The old password is incorrect."
    body |= {"old_password": PASSWORD, "new_password2": "other"}
    status, answer = await t.call("dadmin2", "POST", url, body)
    assert status == 400 and "differ" in answer["msg"]
    body["new_password2"] = "n3w-pass"
    assert await t.call("dadmin2", "POST", url, body) == (200, {})
    login = {"type": "keypair", "domain": "default", "username": t["dadmin2"].email}
    status, _ = await t.call("demo", "POST", "/auth/authorize", login | {"password": "n3w-pass"})
    assert status == 200
