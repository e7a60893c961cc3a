"""The authentication edge of the manager: every bad credential is a clear 4xx problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from backendai.manager.db.engine import create_engine
from backendai.manager.db.models import KeyPair
from tests.fixtures.platform import ManagerHarness

PROBS = "https://api.backend.ai/probs/"


async def test_version_probe_answers_signed_and_unsigned(manager: ManagerHarness) -> None:
    plain = await manager.client.get("/")
    assert plain.status == 200
    assert (await plain.json())["version"] == "v6.20210815"
    signed = await manager.signed("GET", "/")
    assert signed.status == 200
    assert (await signed.json())["version"] == "v6.20210815"


async def test_announcement_shape(manager: ManagerHarness) -> None:
    resp = await manager.signed("GET", "/manager/announcement")
    assert resp.status == 200
    assert await resp.json() == {"enabled": False, "message": ""}


async def test_unsigned_request_is_401_with_hint(manager: ManagerHarness) -> None:
    resp = await manager.client.get("/manager/announcement")
    assert resp.status == 401
    body = await resp.json()
    assert body["type"] == PROBS + "auth-failed"
    assert "Authorization" in body["msg"]


async def test_wrong_signature(manager: ManagerHarness) -> None:
    demo = manager.users.demo
    headers = manager.headers(demo.access_key, "x" * 40, "GET", "/manager/announcement")
    resp = await manager.client.get("/manager/announcement", headers=headers)
    assert resp.status == 401
    body = await resp.json()
    assert body["type"] == PROBS + "auth-failed"
    assert "Signature mismatch" in body["msg"]


async def test_signature_covers_the_path(manager: ManagerHarness) -> None:
    demo = manager.users.demo
    headers = manager.headers(demo.access_key, demo.secret_key, "GET", "/other")
    resp = await manager.client.get("/manager/announcement", headers=headers)
    assert resp.status == 401


async def test_stale_date(manager: ManagerHarness) -> None:
    demo = manager.users.demo
    old = datetime.now(UTC) - timedelta(minutes=20)
    headers = manager.headers(
        demo.access_key, demo.secret_key, "GET", "/manager/announcement", now=old
    )
    resp = await manager.client.get("/manager/announcement", headers=headers)
    assert resp.status == 400
    body = await resp.json()
    assert body["type"] == PROBS + "invalid-auth-params"
    assert "Date/time sync error" in body["msg"]


async def test_date_within_skew_is_fine(manager: ManagerHarness) -> None:
    demo = manager.users.demo
    slightly_off = datetime.now(UTC) - timedelta(minutes=10)
    headers = manager.headers(
        demo.access_key, demo.secret_key, "GET", "/manager/announcement", now=slightly_off
    )
    resp = await manager.client.get("/manager/announcement", headers=headers)
    assert resp.status == 200


async def test_unknown_access_key(manager: ManagerHarness) -> None:
    headers = manager.headers("AKIANOSUCHKEY0000000", "x" * 40, "GET", "/manager/announcement")
    resp = await manager.client.get("/manager/announcement", headers=headers)
    assert resp.status == 401
    assert "Unknown access key" in (await resp.json())["msg"]


async def test_inactive_access_key(manager: ManagerHarness) -> None:
    demo = manager.users.demo
    engine = create_engine(manager.db_url)
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(KeyPair).where(KeyPair.access_key == demo.access_key).values(is_active=False)
        )
    await engine.dispose()
    resp = await manager.signed("GET", "/manager/announcement")
    assert resp.status == 401
    assert "inactive" in (await resp.json())["msg"]


async def test_malformed_authorization_and_version(manager: ManagerHarness) -> None:
    demo = manager.users.demo
    headers = manager.headers(demo.access_key, demo.secret_key, "GET", "/manager/announcement")
    resp = await manager.client.get(
        "/manager/announcement", headers=headers | {"Authorization": "BackendAI nonsense"}
    )
    assert resp.status == 400
    assert (await resp.json())["type"] == PROBS + "invalid-auth-params"
    resp = await manager.client.get(
        "/manager/announcement", headers=headers | {"X-BackendAI-Version": "v9.20990101"}
    )
    assert resp.status == 400
    assert "Unsupported API version" in (await resp.json())["msg"]


async def test_malformed_json_body(manager: ManagerHarness) -> None:
    demo = manager.users.demo
    headers = manager.headers(demo.access_key, demo.secret_key, "POST", "/admin/gql")
    resp = await manager.client.post("/admin/gql", data=b"{not json", headers=headers)
    assert resp.status == 400
    body = await resp.json()
    assert body["type"] == PROBS + "invalid-api-params"
    assert "not valid JSON" in body["msg"]


async def test_missing_field_lists_it(manager: ManagerHarness) -> None:
    resp = await manager.signed("POST", "/admin/gql", body={"variables": {}})
    assert resp.status == 400
    body = await resp.json()
    assert "query" in body["data"]


async def test_unknown_route_is_problem_json(manager: ManagerHarness) -> None:
    resp = await manager.signed("GET", "/no/such/route")
    assert resp.status == 404
    assert resp.content_type == "application/problem+json"


async def test_authorize_with_password(manager: ManagerHarness) -> None:
    demo = manager.users.demo
    ok = await manager.client.post(
        "/auth/authorize", json={"username": demo.email, "password": demo.password}
    )
    assert ok.status == 200
    assert (await ok.json())["data"]["access_key"] == demo.access_key
    bad = await manager.client.post(
        "/auth/authorize", json={"username": demo.email, "password": "wrong"}
    )
    assert bad.status == 401
    assert "incorrect" in (await bad.json())["msg"]
