"""The authentication edge of the manager: every bad credential is a clear 4xx problem."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from backendai.common.statuses import UserStatus
from backendai.manager.db.engine import create_engine
from backendai.manager.db.models import KeyPair, User
from backendai.manager.services import passwords
from tests.fixtures.platform import ManagerHarness, running_manager

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


async def _authorize(
    manager: ManagerHarness,
    username: str,
    password: str,
    domain: str = "default",
    headers: dict[str, str] | None = None,
) -> aiohttp.ClientResponse:
    return await manager.client.post(
        "/auth/authorize",
        json={"username": username, "password": password, "domain": domain},
        headers=headers,
    )


async def test_every_refused_login_answers_alike(manager: ManagerHarness) -> None:
    demo, admin = manager.users.demo, manager.users.superadmin
    engine = create_engine(manager.db_url)
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(User).where(User.email == admin.email).values(status=UserStatus.INACTIVE)
        )
    await engine.dispose()
    answers = [
        await _authorize(manager, "nobody@example.com", "whatever"),  # no such email
        await _authorize(manager, demo.email, "wrong"),  # wrong password
        await _authorize(manager, demo.email, demo.password, domain="other"),  # other domain
        await _authorize(manager, admin.email, admin.password),  # inactive account
    ]
    assert [a.status for a in answers] == [401] * 4
    bodies = [await a.json() for a in answers]
    assert bodies[0] == {
        "type": PROBS + "auth-failed",
        "title": "Authentication failed.",
        "msg": "The email or password is incorrect.",
    }
    assert all(body == bodies[0] for body in bodies)


async def test_an_unknown_email_costs_a_bcrypt_check(
    manager: ManagerHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = passwords.check_password

    def spy(password: str, hashed: str) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(passwords, "check_password", spy)
    assert (await _authorize(manager, "nobody@example.com", "whatever")).status == 401
    assert checked == [passwords.DUMMY_HASH]


async def test_authorize_locks_a_user_name_after_failures(tmp_path: Path) -> None:
    async with running_manager(tmp_path, login_max_failures_per_user=3) as manager:
        demo = manager.users.demo
        for _ in range(3):
            assert (await _authorize(manager, demo.email, "wrong")).status == 401
        locked = await _authorize(manager, demo.email.upper(), demo.password)
        assert locked.status == 429
        assert locked.headers["Retry-After"] == "300"
        body = await locked.json()
        assert body["type"] == PROBS + "login-locked"
        assert "try again in 300 s" in body["msg"]
        admin = manager.users.superadmin  # another account is not affected
        assert (await _authorize(manager, admin.email, admin.password)).status == 200


async def test_authorize_locks_an_address_after_failures(tmp_path: Path) -> None:
    async with running_manager(tmp_path, login_max_failures_per_address=3) as manager:
        admin = manager.users.superadmin
        for i in range(3):  # a few guesses on each of many accounts
            assert (await _authorize(manager, f"user{i}@example.com", "guess")).status == 401
        locked = await _authorize(manager, admin.email, admin.password)
        assert locked.status == 429
        assert "from your address 127.0.0.1" in (await locked.json())["msg"]
        assert int(locked.headers["Retry-After"]) > 0
        # The webserver (a trusted proxy on loopback) names its client: that one is apart.
        behind = {"X-Forwarded-For": "198.51.100.20"}
        assert (await _authorize(manager, admin.email, admin.password, headers=behind)).ok


async def test_forwarded_for_is_ignored_from_untrusted_peers(tmp_path: Path) -> None:
    async with running_manager(
        tmp_path, login_max_failures_per_address=2, login_trusted_proxies=[]
    ) as manager:
        for i in range(2):
            spoofed = {"X-Forwarded-For": f"198.51.100.{i}"}
            assert (
                await _authorize(manager, f"u{i}@example.com", "x", headers=spoofed)
            ).status == 401
        spoofed = {"X-Forwarded-For": "198.51.100.99"}
        demo = manager.users.demo
        refused = await _authorize(manager, demo.email, demo.password, headers=spoofed)
        assert refused.status == 429


async def test_a_burst_of_wrong_passwords_cannot_carry_the_right_one_in(tmp_path: Path) -> None:
    async with running_manager(tmp_path, login_max_failures_per_user=3) as manager:
        demo = manager.users.demo

        async def right_one_late() -> aiohttp.ClientResponse:
            await asyncio.sleep(0.1)  # the wrong ones are being checked now
            return await _authorize(manager, demo.email, demo.password)

        *wrong, right = await asyncio.gather(
            *(_authorize(manager, demo.email, f"wrong-{i}") for i in range(39)), right_one_late()
        )
        assert sorted(r.status for r in wrong) == [401] * 3 + [429] * 36
        assert right.status == 429
        assert "try again in" in (await right.json())["msg"]
        assert (await _authorize(manager, demo.email, demo.password)).status == 429


async def test_a_login_flood_waits_or_is_refused_and_others_go_on(tmp_path: Path) -> None:
    async with running_manager(
        tmp_path, password_workers=1, password_queue=2, login_max_failures_per_user=100
    ) as manager:
        demo = manager.users.demo
        flood = [
            asyncio.create_task(_authorize(manager, demo.email, f"wrong-{i}")) for i in range(40)
        ]
        pool = manager.ctx.auth.passwords
        for _ in range(200):
            if pool.admitted:
                break
            await asyncio.sleep(0.01)
        started = time.monotonic()
        other = await manager.signed("GET", "/manager/announcement", as_="superadmin")
        took = time.monotonic() - started
        assert other.status == 200
        assert pool.admitted > 0, "the flood ended before the other request: nothing measured"
        assert took < 1.0, f"another user's request waited {took:.2f} s behind the logins"
        answers = await asyncio.gather(*flood)
        statuses = [a.status for a in answers]
        assert set(statuses) == {401, 429}
        assert 1 <= statuses.count(401) <= 10
        busy = next(a for a in answers if a.status == 429)
        assert (await busy.json())["type"] == PROBS + "too-many-requests"
        assert int(busy.headers["Retry-After"]) >= 1
