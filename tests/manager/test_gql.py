"""The GraphQL admin API: the shapes Backend.AI's client reads, and who may see what."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from backendai.manager.db.models import KeyPair, User
from backendai.manager.gql.context import GQLContext
from backendai.manager.gql.schema import schema
from backendai.manager.services.auth import Principal
from tests.fixtures.platform import ManagerHarness
from tests.manager.tenants import add_tenants

KEYPAIR_Q = (
    "query {  keypair {    user_id user_info { full_name } access_key secret_key is_active "
    "is_admin created_at last_used resource_policy rate_limit concurrency_limit "
    "concurrency_used  }}"
)
SESSIONS_Q = (
    "query($limit:Int!, $offset:Int!, $status: String, $access_key: String, $filter: String, "
    "$order: String) {\n  compute_session_list(\n      limit:$limit, offset:$offset, "
    "status:$status, access_key:$access_key, filter:$filter, order:$order) {\n    items { name "
    "session_id group_name id image type status status_info status_changed result }\n    "
    "total_count\n  }\n}"
)
DOMAIN_Q = (
    "query($name: String) {\n    domain(name: $name) {name description is_active created_at "
    "total_resource_slots allowed_vfolder_hosts allowed_docker_registries scaling_groups}\n}\n"
)


async def test_own_keypair_in_requested_order(manager: ManagerHarness) -> None:
    body = await manager.gql(KEYPAIR_Q)
    assert body["errors"] is None
    kp = body["data"]["keypair"]
    assert list(kp) == [
        "user_id", "user_info", "access_key", "secret_key", "is_active", "is_admin",
        "created_at", "last_used", "resource_policy", "rate_limit", "concurrency_limit",
        "concurrency_used",
    ]  # fmt: skip
    assert kp["access_key"] == manager.users.demo.access_key
    assert kp["user_id"] == "demo@example.com"
    assert kp["is_admin"] is False
    assert kp["concurrency_used"] == 0


async def test_empty_session_list(manager: ManagerHarness) -> None:
    variables = {
        "status": "PENDING,SCHEDULED,PREPARING,PULLING,RUNNING,RESTARTING,TERMINATING,"
        "RESIZING,SUSPENDED,ERROR",
        "access_key": None, "filter": None, "order": None, "limit": 20, "offset": 0,
    }  # fmt: skip
    body = await manager.gql(SESSIONS_Q, variables)
    assert body == {"data": {"compute_session_list": {"items": [], "total_count": 0}},
                    "errors": None}  # fmt: skip


async def test_unknown_status_is_a_clear_error(manager: ManagerHarness) -> None:
    body = await manager.gql(SESSIONS_Q, {"status": "SLEEPING", "limit": 20, "offset": 0})
    assert body["data"] is None
    assert "Unknown session status SLEEPING" in body["errors"][0]["message"]


async def test_domain_json_strings(manager: ManagerHarness) -> None:
    body = await manager.gql(DOMAIN_Q, {"name": None})
    domain = body["data"]["domain"]
    assert domain["name"] == "default"
    assert json.loads(domain["total_resource_slots"]) == {}
    assert domain["allowed_vfolder_hosts"] == ["local"]
    assert domain["scaling_groups"] == ["default"]


async def test_users_see_their_own_domain_and_themselves(manager: ManagerHarness) -> None:
    # Another domain is answered like one that does not exist.
    for name in ("other", "nosuch"):
        body = await manager.gql(DOMAIN_Q, {"name": name})
        assert body["errors"][0]["extensions"]["code"] == "domain-not-found"
        assert body["errors"][0]["message"] == f"No domain {name} that you may see."
    body = await manager.gql("query { domains { name } }")
    assert body["errors"][0]["extensions"]["code"] == "insufficient-privilege"
    assert body["errors"][0]["message"] == "The user role may not list domains."
    body = await manager.gql(
        "query { users { email } user_list(limit: 10, offset: 0) { total_count } }"
    )
    assert body["data"] == {"users": [{"email": "demo@example.com"}],
                            "user_list": {"total_count": 1}}  # fmt: skip


async def test_keypair_list_is_scoped(manager: ManagerHarness) -> None:
    q = (
        "query($limit:Int!, $offset:Int!, $is_active: Boolean, $domain_name: String, "
        "$filter: String, $order: String) { keypair_list(limit:$limit, offset:$offset, "
        "is_active:$is_active, domain_name:$domain_name, filter:$filter, order:$order) "
        "{ items { access_key } total_count } }"
    )
    variables = {"limit": 20, "offset": 0, "is_active": None, "domain_name": None,
                 "filter": None, "order": None}  # fmt: skip
    mine = (await manager.gql(q, variables))["data"]["keypair_list"]
    assert mine["total_count"] == 1
    assert mine["items"] == [{"access_key": manager.users.demo.access_key}]
    everyone = (await manager.gql(q, variables, as_="superadmin"))["data"]["keypair_list"]
    assert everyone["total_count"] == 2


async def test_user_cannot_read_another_keypair(manager: ManagerHarness) -> None:
    q = 'query { keypair(access_key: "%s") { access_key } }'
    body = await manager.gql(q % manager.users.superadmin.access_key)
    assert body["errors"][0]["extensions"]["code"] == "insufficient-privilege"
    body = await manager.gql(q % manager.users.demo.access_key, as_="superadmin")
    assert body["data"]["keypair"]["access_key"] == manager.users.demo.access_key


async def test_groups_and_user(manager: ManagerHarness) -> None:
    groups = await manager.gql(
        "query($domain_name: String) { groups(domain_name: $domain_name) { name domain_name } }",
        {"domain_name": None},
    )
    assert groups["data"]["groups"] == [{"name": "default", "domain_name": "default"}]
    user = await manager.gql("query { user { email role groups { name } } }")
    assert user["data"]["user"] == {
        "email": "demo@example.com", "role": "user", "groups": [{"name": "default"}]
    }  # fmt: skip


KEYPAIRS_Q = "query { keypairs { user_id access_key secret_key is_admin } }"


async def test_secret_keys_only_to_their_owner_and_superadmins(manager: ManagerHarness) -> None:
    """The finding: a domain admin's ``keypairs`` returned the superadmin's secret key."""
    t = await add_tenants(manager)
    listing = (await t.gql("dadmin", KEYPAIRS_Q))["data"]["keypairs"]
    shown = {kp["user_id"]: kp["secret_key"] for kp in listing}
    # Its domain's users and admins, never the superadmin, a monitor or another domain.
    assert sorted(shown) == ["bob@example.com", "dadmin2@example.com", "dadmin@example.com",
                             "demo@example.com"]  # fmt: skip
    assert shown.pop("dadmin@example.com") == t["dadmin"].secret_key
    assert set(shown.values()) == {None}
    q = "query($k: String) { keypair(access_key: $k) { secret_key } }"
    body = await t.gql("dadmin", q, {"k": t["superadmin"].access_key})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "keypair-not-found"
    # A monitor reads every keypair, no secret but its own; a superadmin reads every secret.
    listing = (await t.gql("mon", KEYPAIRS_Q))["data"]["keypairs"]
    assert len(listing) == 8
    assert {kp["user_id"] for kp in listing if kp["secret_key"]} == {"mon@example.com"}
    listing = (await t.gql("superadmin", KEYPAIRS_Q))["data"]["keypairs"]
    assert {kp["secret_key"] for kp in listing} == {t[n].secret_key for n in t.by_name}


async def test_domain_admin_users_stop_at_its_domain_and_rank(manager: ManagerHarness) -> None:
    t = await add_tenants(manager)
    q = "query { users { email role domain_name } }"
    users = (await t.gql("dadmin", q))["data"]["users"]
    assert {(u["email"], u["role"]) for u in users} == {
        ("dadmin@example.com", "admin"), ("dadmin2@example.com", "admin"),
        ("demo@example.com", "user"), ("bob@example.com", "user"),
    }  # fmt: skip
    body = await t.gql("dadmin", 'query { users(domain_name: "other") { email } }')
    assert body["errors"][0]["message"] == "You may not look into the domain other."
    for who in ("admin@example.com", "carol@example.com", "mon@example.com", "no@example.com"):
        body = await t.gql("dadmin", "query($e: String) { user(email: $e) { email } }", {"e": who})
        assert body["errors"][0]["extensions"]["code"] == "user-not-found", who


class OneAtATime:
    """An ``AsyncSession`` that counts the operations started while another was running (each
    yields to the loop first, as a real one does while it gets its connection)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session, self.running, self.overlaps, self.calls = session, 0, 0, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._session, name)
        if name not in ("execute", "scalar", "scalars", "get", "get_one"):
            return attr

        async def operation(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.running += 1
            self.overlaps += self.running > 1
            try:
                await asyncio.sleep(0.001)
                return await attr(*args, **kwargs)
            finally:
                self.running -= 1

        return operation


async def test_fields_of_one_query_never_share_the_database_at_once(
    manager: ManagerHarness,
) -> None:
    """graphql-core resolves a query's fields concurrently, and they share the request's one
    database session, which takes one operation at a time: the web UI's wizard asked
    ``user`` and ``keypair`` together and got "the session is provisioning a new connection"
    (a 500) now and then."""
    async with manager.ctx.db() as db:
        keypair = await db.get_one(KeyPair, manager.users.demo.access_key)
        user = await db.get_one(User, keypair.user)
        principal = Principal(
            access_key=keypair.access_key, secret_key=keypair.secret_key,
            is_admin_key=keypair.is_admin, user_uuid=user.uuid, email=user.email,
            role=user.role, domain_name=user.domain_name,
            resource_policy=keypair.resource_policy,
        )  # fmt: skip
        watched = OneAtATime(db)
        result = await schema.execute(
            "query { user { email groups { name } } keypair { access_key concurrency_used }"
            " domain { name scaling_groups } groups { name scaling_groups }"
            " keypair_resource_policy { name } }",
            context_value=GQLContext(principal, cast(AsyncSession, watched)),
        )
    assert result.errors is None, result.errors
    assert result.data is not None and result.data["user"]["email"] == "demo@example.com"
    assert watched.calls >= 5 and watched.overlaps == 0
