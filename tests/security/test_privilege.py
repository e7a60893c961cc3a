"""Privilege on the real platform: secret keys stay with their owners, and a domain admin
stops at its domain and at its own rank.

The finding: a domain admin's GraphQL ``keypairs`` returned the superadmin's ``secret_key``,
and with it a superadmin-only query worked.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from tests.security.conftest import Tenant

pytestmark = [pytest.mark.slow, pytest.mark.docker]

KEYPAIRS = "query { keypairs { user_id access_key secret_key is_admin } }"
DOMAINS = "query { domains { name } }"
PROBS = "https://api.backend.ai/probs/"


def _code(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["extensions"]["code"])


async def test_a_domain_admin_sees_no_secret_but_its_own(tenants: dict[str, Tenant]) -> None:
    dadmin, admin = tenants["dadmin"], tenants["admin"]
    body = await dadmin.gql(KEYPAIRS)
    assert body["errors"] is None
    listing = body["data"]["keypairs"]
    owners = {kp["user_id"] for kp in listing}
    # Its own domain's users and admins; never the superadmin, never another domain.
    assert {"dadmin@example.com", "alice@example.com", "bob@example.com"} <= owners
    assert admin.email not in owners and admin.access_key not in str(listing)
    assert not owners & {"oadmin@example.com", "carol@example.com"}
    secrets = {kp["access_key"]: kp["secret_key"] for kp in listing if kp["secret_key"]}
    assert secrets == {dadmin.access_key: dadmin.secret_key}
    # Asked by name, the superadmin's keypair is not there at all.
    body = await dadmin.gql(
        f'query {{ keypair(access_key: "{admin.access_key}") {{ secret_key }} }}'
    )
    assert body["data"] is None and _code(body) == "keypair-not-found"


async def test_no_key_a_domain_admin_sees_signs_as_anyone_else(
    tenants: dict[str, Tenant],
) -> None:
    """The original attack, replayed: every secret the domain admin can read, tried with the
    superadmin's access key on a superadmin-only query."""
    dadmin, admin = tenants["dadmin"], tenants["admin"]
    listing = (await dadmin.gql(KEYPAIRS))["data"]["keypairs"]
    seen = {kp["secret_key"] for kp in listing if kp["secret_key"]}
    assert seen == {dadmin.secret_key}
    for secret in seen:
        forged = replace(admin, secret_key=secret)
        status, body = await forged.call("POST", "/admin/gql", {"query": DOMAINS})
        assert status == 401 and body["type"] == PROBS + "auth-failed"
    assert _code(await dadmin.gql(DOMAINS)) == "insufficient-privilege"
    names = {d["name"] for d in (await admin.gql(DOMAINS))["data"]["domains"]}
    assert {"default", "other"} <= names


async def test_secrets_are_their_owners_everywhere(tenants: dict[str, Tenant]) -> None:
    for name in ("alice", "oadmin", "carol", "demo"):
        t = tenants[name]
        listing = (await t.gql(KEYPAIRS))["data"]["keypairs"]
        assert {kp["secret_key"] for kp in listing if kp["secret_key"]} == {t.secret_key}, name
    own = (await tenants["alice"].gql("query { keypair { access_key secret_key } }"))["data"]
    assert own["keypair"]["secret_key"] == tenants["alice"].secret_key
    everyone = (await tenants["admin"].gql(KEYPAIRS))["data"]["keypairs"]
    by_key = {kp["access_key"]: kp["secret_key"] for kp in everyone}
    assert all(by_key[t.access_key] == t.secret_key for t in tenants.values())


async def test_domain_boundaries_for_people(tenants: dict[str, Tenant]) -> None:
    q = "query { users { email role domain_name } }"
    others = {u["email"] for u in (await tenants["oadmin"].gql(q))["data"]["users"]}
    assert others == {"oadmin@example.com", "carol@example.com"}
    mine = (await tenants["dadmin"].gql(q))["data"]["users"]
    assert {u["domain_name"] for u in mine} == {"default"}
    assert "superadmin" not in {u["role"] for u in mine}
    assert {u["email"] for u in (await tenants["alice"].gql(q))["data"]["users"]} == {
        "alice@example.com"
    }
    hidden = [("dadmin", "carol@example.com"), ("dadmin", "admin@example.com"),
              ("oadmin", "alice@example.com"), ("dadmin", "nobody@example.com")]  # fmt: skip
    for who, email in hidden:
        body = await tenants[who].gql(f'query {{ user(email: "{email}") {{ email }} }}')
        assert _code(body) == "user-not-found", (who, email)
    body = await tenants["oadmin"].gql('query { domain(name: "default") { name } }')
    assert _code(body) == "domain-not-found"


async def _session_answer(t: Tenant, owner: Tenant, forced: bool = False) -> str:
    url = f"/session/no-such-session?owner_access_key={owner.access_key}"
    status, body = await t.call("DELETE", url + ("&forced=true" if forced else ""))
    return f"{status} {body['type'].removeprefix(PROBS)}"


async def test_domain_boundaries_for_sessions(tenants: dict[str, Tenant]) -> None:
    """Acting on another keypair's sessions: reachable owners get "no such session", owners
    beyond reach get the same answer as a keypair that does not exist."""
    t = tenants
    reachable = "404 session-not-found"
    hidden = "404 keypair-not-found"
    assert await _session_answer(t["dadmin"], t["alice"]) == reachable
    assert await _session_answer(t["dadmin"], t["alice"], forced=True) == reachable
    assert await _session_answer(t["dadmin"], t["admin"]) == hidden  # a superadmin's
    assert await _session_answer(t["dadmin"], t["carol"]) == hidden  # another domain's
    assert await _session_answer(t["oadmin"], t["alice"]) == hidden
    assert await _session_answer(t["oadmin"], t["carol"]) == reachable
    assert await _session_answer(t["admin"], t["carol"]) == reachable
    assert await _session_answer(t["bob"], t["alice"]) == "403 insufficient-privilege"
    assert await _session_answer(t["alice"], t["alice"], forced=True) == (
        "403 insufficient-privilege"
    )
    ghost = replace(t["alice"], access_key="AKIANOSUCHKEY0000000")
    assert await _session_answer(t["dadmin"], ghost) == hidden


async def test_event_streams_stop_at_the_boundary(tenants: dict[str, Tenant]) -> None:
    async def listen(t: Tenant, owner: Tenant) -> int:
        url = f"/events/session?sessionName=x&ownerAccessKey={owner.access_key}"
        headers = t.headers("GET", url, "application/octet-stream")
        del headers["Content-Type"]
        async with aiohttp.ClientSession() as http, http.get(
            t.endpoint + url, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
        ) as resp:  # fmt: skip
            return resp.status

    assert await listen(tenants["dadmin"], tenants["alice"]) == 200
    assert await listen(tenants["dadmin"], tenants["admin"]) == 404
    assert await listen(tenants["oadmin"], tenants["alice"]) == 404
    assert await listen(tenants["bob"], tenants["alice"]) == 403
