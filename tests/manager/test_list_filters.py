"""``filter`` and ``order`` of the paged lists (the official client's ``--filter``/``--order``):
the expressions' results through GraphQL, within what the caller may see, and clear refusals of
bad or hostile expressions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from backendai.manager.gql.list_filters import MAX_DEPTH, MAX_LENGTH, MAX_TERMS
from tests.fixtures.platform import ManagerHarness
from tests.manager.fake_agent import FakeAgent
from tests.manager.tenants import Tenants, add_tenants

USER_LIST = (
    "query($limit:Int!, $offset:Int!, $status: String, $group_id: UUID, $filter: String, "
    "$order: String) {\n  user_list(limit:$limit, offset:$offset, status:$status, "
    "group_id:$group_id, filter:$filter, order:$order) {\n    items { email role status }\n"
    "    total_count\n  }\n}"
)
SESSION_LIST = (
    "query($limit:Int!, $offset:Int!, $status: String, $access_key: String, $filter: String, "
    "$order: String) {\n  compute_session_list(limit:$limit, offset:$offset, status:$status, "
    "access_key:$access_key, filter:$filter, order:$order) {\n    items { name status }\n"
    "    total_count\n  }\n}"
)
KEYPAIR_LIST = (
    "query($limit:Int!, $offset:Int!, $filter: String, $order: String) {\n"
    "  keypair_list(limit:$limit, offset:$offset, filter:$filter, order:$order) {\n"
    "    items { user_id access_key } total_count\n  }\n}"
)
AGENT_LIST = (
    "query($limit:Int!, $offset:Int!, $filter: String, $order: String) {\n"
    "  agent_list(limit:$limit, offset:$offset, filter:$filter, order:$order) {\n"
    "    items { id } total_count\n  }\n}"
)


@pytest.fixture
async def world(platform: ManagerHarness, agent: FakeAgent) -> AsyncIterator[Tenants]:
    tenants = await add_tenants(platform)
    assert await agent.send_heartbeat(platform) == 200
    yield tenants


async def users(t: Tenants, who: str, filter: str | None, order: str | None = None) -> Any:
    variables = {"limit": 100, "offset": 0, "status": None, "group_id": None,
                 "filter": filter, "order": order}  # fmt: skip
    return await t.gql(who, USER_LIST, variables)


def emails(body: dict[str, Any]) -> list[str]:
    assert not body.get("errors"), body
    return [u["email"] for u in body["data"]["user_list"]["items"]]


def refusal(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "invalid-api-params", error
    return str(error["message"])


async def test_filters_combine_with_and_or_not_and_parentheses(world: Tenants) -> None:
    body = await users(world, "superadmin", 'email ilike "%ADMIN%"', "email")
    assert emails(body) == ["admin@example.com", "dadmin2@example.com", "dadmin@example.com",
                            "oadmin@example.com"]  # fmt: skip
    assert body["data"]["user_list"]["total_count"] == 4
    body = await users(world, "superadmin", 'role == "admin" & domain_name == "other"')
    assert emails(body) == ["oadmin@example.com"]
    # ! binds tightest, & before |.
    body = await users(
        world, "superadmin",
        'email == "bob@example.com" | role == "monitor" & domain_name == "other"',
    )  # fmt: skip
    assert emails(body) == ["bob@example.com"]
    body = await users(
        world, "superadmin", '!(email contains "zz") & !role != "monitor" | role == "user"',
        "-email",
    )  # fmt: skip
    assert emails(body) == ["mon@example.com", "demo@example.com", "carol@example.com",
                            "bob@example.com"]  # fmt: skip
    body = await users(world, "superadmin", 'email in ["carol@example.com", "nobody@x"]')
    assert emails(body) == ["carol@example.com"]
    body = await users(world, "superadmin", 'username isnot null & created_at > "2000-01-01"')
    assert "bob@example.com" in emails(body)
    body = await users(world, "superadmin", "need_password_change == true")
    assert emails(body) == []
    # contains is literal: % and _ are not wildcards in it.
    body = await users(world, "superadmin", 'email contains "%"')
    assert emails(body) == []
    body = await users(world, "superadmin", 'email icontains "DADMIN2@" | email icontains "_"')
    assert emails(body) == ["dadmin2@example.com"]


async def test_order_sorts_and_pages_stably(world: Tenants) -> None:
    everyone = emails(await users(world, "superadmin", None, "-email"))
    assert everyone == sorted(everyone, reverse=True) and len(everyone) >= 8
    pages = []
    for offset in range(0, len(everyone), 3):
        variables = {"limit": 3, "offset": offset, "status": None, "group_id": None,
                     "filter": None, "order": "role, -domain_name"}  # fmt: skip
        pages += emails(await world.gql("superadmin", USER_LIST, variables))
    assert sorted(pages) == sorted(everyone) and len(set(pages)) == len(pages)


async def test_a_filter_stays_within_what_the_caller_may_see(world: Tenants) -> None:
    # A domain admin's filter matching users of another domain finds nothing there.
    body = await users(world, "dadmin", 'email ilike "%"')
    assert "carol@example.com" not in emails(body) and "bob@example.com" in emails(body)
    assert emails(await users(world, "dadmin", 'domain_name == "other"')) == []
    # bob's session list, filtered to every status, still holds only bob's sessions.
    for who, name in (("bob", "bob-one"), ("carol", "carol-one")):
        await world.create_session(who, name)
    variables = {"limit": 50, "offset": 0, "status": None, "access_key": None,
                 "filter": 'name ilike "%-one" | status != "RUNNING"', "order": "name"}  # fmt: skip
    body = await world.gql("bob", SESSION_LIST, variables)
    assert [s["name"] for s in body["data"]["compute_session_list"]["items"]] == ["bob-one"]
    body = await world.gql("superadmin", SESSION_LIST, variables)
    names = [s["name"] for s in body["data"]["compute_session_list"]["items"]]
    assert names == ["bob-one", "carol-one"]
    variables["filter"] = 'user_email == "carol@example.com" & type == "interactive"'
    body = await world.gql("superadmin", SESSION_LIST, variables)
    assert [s["name"] for s in body["data"]["compute_session_list"]["items"]] == ["carol-one"]


async def test_hidden_columns_cannot_be_named(world: Tenants) -> None:
    """A filter answering yes or no about a column the list hides would leak it a bit at a
    time: a password hash, a secret key."""
    message = refusal(await users(world, "superadmin", 'password like "$2b$%"'))
    assert "unknown field 'password'" in message and "email" in message
    variables = {"limit": 10, "offset": 0, "filter": 'secret_key like "a%"', "order": None}
    assert "unknown field 'secret_key'" in refusal(
        await world.gql("superadmin", KEYPAIR_LIST, variables)
    )
    variables["filter"] = 'user_id == "bob@example.com"'
    body = await world.gql("superadmin", KEYPAIR_LIST, variables)
    assert [k["access_key"] for k in body["data"]["keypair_list"]["items"]] == [
        world["bob"].access_key
    ]
    variables = {"limit": 10, "offset": 0, "filter": 'status == "ALIVE"', "order": "-id"}
    body = await world.gql("superadmin", AGENT_LIST, variables)
    assert body["data"]["agent_list"]["total_count"] == 1


BAD = [
    ('email = "x"', "'=' at position 7"),
    ("email == bob", "expected a value"),
    ('email == "x" &', "at the end: expected a field name"),
    ('(email == "x"', "expected ')'"),
    ('email == "x" role == "admin"', "expected & or |"),
    ('role == "wizard"', "role is one of superadmin, admin, user, monitor, not 'wizard'"),
    ('created_at > "yesterday"', 'takes a date and time like "2026-11-30T12:00:00Z"'),
    ('role > "admin"', "'>' does not order an enum value"),
    ('email in "x"', "'in' takes an array"),
    ('email == ["a"]', "takes a single value"),
    ("need_password_change == 1", "takes a boolean, not 1"),
    ("email is 1", "'is' takes null, true or false"),
    ('created_at like "2026%"', "'like' compares text"),
    ('email == "\\q"', "a string with a bad escape"),
]


async def test_bad_expressions_say_what_and_where(world: Tenants) -> None:
    for expression, said in BAD:
        assert said in refusal(await users(world, "superadmin", expression)), expression


async def test_hostile_expressions_are_bounded(world: Tenants) -> None:
    deep = "(" * (MAX_DEPTH + 5) + 'email == "x"' + ")" * (MAX_DEPTH + 5)
    assert "nested more than" in refusal(await users(world, "superadmin", deep))
    nots = "!" * 100_000 + 'email == "x"'
    assert f"at most {MAX_LENGTH}" in refusal(await users(world, "superadmin", nots))
    many = " | ".join(['email == "x"'] * (MAX_TERMS + 1))
    assert f"more than {MAX_TERMS} comparisons" in refusal(await users(world, "superadmin", many))
    array = "[" + ",".join(['""'] * 400) + "]"
    values = " | ".join([f"email in {array}"] * 3)
    assert "more than 1000 values in all" in refusal(await users(world, "superadmin", values))
    backtracking = 'email like "' + "%a" * 20 + '%b"'
    assert "at most 8 '%'" in refusal(await users(world, "superadmin", backtracking))
    long_text = 'email icontains "' + "x" * 300 + '"'
    assert "at most 256 characters" in refusal(await users(world, "superadmin", long_text))
    body = await users(world, "superadmin", None, "nope")
    assert "unknown field 'nope'" in refusal(body)
    assert "expected ','" in refusal(await users(world, "superadmin", None, "email role"))
    assert "at most 10 fields" in refusal(
        await users(world, "superadmin", None, ", ".join(["email"] * 11))
    )
