"""Login and web safety on the real platform, tried as a hostile user would.

Each test talks from its own loopback address (127.x.y.z), so that the manager's per-address
login limit it trips stays its own and never locks out the other tests on this live platform;
the accounts it guesses at are its own too.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from backendai.common.statuses import UserRole, UserStatus
from backendai.manager.db.engine import create_engine, create_session_factory
from backendai.manager.db.models import Domain, Group, ScalingGroupForDomain, User
from backendai.manager.services import bootstrap
from backendai.manager.services.bootstrap import create_user, ensure_defaults
from tests.fixtures.live import LiveServer
from tests.security.conftest import Tenant, within

pytestmark = [pytest.mark.slow, pytest.mark.docker]

PROBS = "https://api.backend.ai/probs/"
EVIL = "https://evil.example"
WEB_LIMIT = 5  # the webserver's default login_max_failures
MANAGER_LIMIT = 10  # the manager's default login_max_failures_per_user


@dataclass(frozen=True)
class Account:
    email: str
    password: str


@dataclass
class Accounts:
    """Accounts of this module alone: ``pick(n)`` hands out ones no other test has used."""

    password: str
    domain: str
    free: list[str]
    inactive: list[str]
    elsewhere: list[str]  # in ``domain``, not in the webserver's domain

    def pick(self, n: int = 1) -> list[Account]:
        taken, self.free[:n] = self.free[:n], []
        assert len(taken) == n, "create more accounts in the fixture"
        return [Account(email, self.password) for email in taken]

    def one_inactive(self) -> Account:
        return Account(self.inactive.pop(), self.password)

    def one_elsewhere(self) -> Account:
        return Account(self.elsewhere.pop(), self.password)


async def _create_accounts(live: LiveServer) -> Accounts:
    tag = uuid.uuid4().hex[:8]
    password = secrets.token_urlsafe(12)
    hashed = bootstrap.hash_password(password)  # once: 30 accounts need not cost 8 s of bcrypt
    accounts = Accounts(password, f"login-{tag}", [], [], [])
    engine = create_engine(f"sqlite:///{live.data_dir / 'backendai.db'}")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(bootstrap, "hash_password", lambda _: hashed)
            async with create_session_factory(engine)() as db, db.begin():
                default_group = await ensure_defaults(db)
                db.add(Domain(name=accounts.domain, description="login tests"))
                db.add(ScalingGroupForDomain(scaling_group="default", domain=accounts.domain))
                await db.flush()
                group = Group(
                    name="default", domain_name=accounts.domain, resource_policy="default"
                )
                db.add(group)
                await db.flush()
                for kind, count, domain, group_id in [
                    (accounts.free, 24, "default", default_group),
                    (accounts.inactive, 2, "default", default_group),
                    (accounts.elsewhere, 2, accounts.domain, group.id),
                ]:
                    for _ in range(count):
                        email = f"login-{tag}-{uuid.uuid4().hex[:8]}@example.com"
                        await create_user(
                            db, email=email, role=UserRole.USER, group_id=group_id,
                            password=password, domain=domain,
                        )  # fmt: skip
                        kind.append(email)
                await db.execute(
                    sa.update(User)
                    .where(User.email.in_(accounts.inactive))
                    .values(status=UserStatus.INACTIVE)
                )
    finally:
        await engine.dispose()
    return accounts


@pytest.fixture(scope="module")
def accounts(live_server: LiveServer) -> Iterator[Accounts]:
    yield asyncio.run(_create_accounts(live_server))


def fresh_address() -> str:
    """A loopback address of this test's own (never 127.0.0.1, which the others use)."""
    a, b, c = (secrets.randbelow(200) + 20, secrets.randbelow(250) + 1, secrets.randbelow(250) + 1)
    return f"127.{a}.{b}.{c}"


@asynccontextmanager
async def client_from(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=0)
    async with aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # the platform is on an IP address
        timeout=aiohttp.ClientTimeout(total=120),
    ) as http:
        yield http


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    seconds: float


async def _post(
    http: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str] | None = None
) -> Answer:
    started = time.perf_counter()
    async with http.post(url, json=body, headers=headers) as resp:
        text = await resp.text()
        seconds = time.perf_counter() - started
        try:
            decoded: Any = await resp.json(content_type=None)
        except ValueError:
            decoded = text
        return Answer(resp.status, decoded, dict(resp.headers), seconds)


def web_login(live: LiveServer) -> Callable[..., Awaitable[Answer]]:
    async def login(http: aiohttp.ClientSession, email: str, password: str) -> Answer:
        body = {"username": email, "password": password}
        return await _post(http, live.webserver + "/server/login", body)

    return login


def manager_login(live: LiveServer) -> Callable[..., Awaitable[Answer]]:
    async def login(
        http: aiohttp.ClientSession, email: str, password: str, domain: str = "default"
    ) -> Answer:
        body = {"username": email, "password": password, "domain": domain}
        return await _post(http, live.endpoint + "/auth/authorize", body)

    return login


async def _another_users_request(bob: Tenant) -> tuple[int, Any]:
    return await bob.call("POST", "/admin/gql", {"query": "{ keypair { access_key } }"})


async def _flood_while_measuring(
    logins: list[Awaitable[Answer]], bob: Tenant
) -> tuple[list[Answer], float, bool]:
    """Run the logins at once; meanwhile time bob's signed request. Returns the answers,
    bob's seconds, and whether the flood was still running when bob had his answer."""
    flood = [asyncio.ensure_future(login) for login in logins]
    await asyncio.sleep(0.5)  # let the flood reach the password checks
    (status, answer), took = await within(2.0, lambda: _another_users_request(bob))
    still_running = not all(task.done() for task in flood)
    assert status == 200, answer
    answers = await asyncio.gather(*flood)
    return answers, took, still_running


def _report(label: str, answers: list[Answer], took: float) -> None:
    statuses = {
        s: [a.status for a in answers].count(s) for s in sorted({a.status for a in answers})
    }
    slowest = max(a.seconds for a in answers)
    print(f"\n{label}: other user's request {took:.3f} s; logins {statuses}, last {slowest:.1f} s")


async def test_a_login_flood_at_the_webserver_does_not_stall_another_user(
    live_server: LiveServer, tenants: dict[str, Tenant], accounts: Accounts
) -> None:
    login = web_login(live_server)
    victims = accounts.pick(8)  # 5 guesses each: all 40 pass the webserver's lock-out
    async with client_from(fresh_address()) as http:
        answers, took, still_running = await _flood_while_measuring(
            [login(http, v.email, f"wrong-{i}") for v in victims for i in range(WEB_LIMIT)],
            tenants["bob"],
        )
    _report("webserver flood", answers, took)
    assert still_running, "the flood was over before the measurement: nothing was shown"
    assert {a.status for a in answers} <= {401, 429}
    assert sum(a.status == 401 for a in answers) >= 5  # passwords really were checked


async def test_a_login_flood_at_authorize_does_not_stall_another_user(
    live_server: LiveServer, tenants: dict[str, Tenant], accounts: Accounts
) -> None:
    login = manager_login(live_server)
    victims = accounts.pick(4)  # 10 guesses each: within the per-user limit
    async with client_from(fresh_address()) as http:
        answers, took, still_running = await _flood_while_measuring(
            [login(http, v.email, f"wrong-{i}") for v in victims for i in range(MANAGER_LIMIT)],
            tenants["bob"],
        )
    _report("/auth/authorize flood", answers, took)
    assert still_running, "the flood was over before the measurement: nothing was shown"
    assert {a.status for a in answers} <= {401, 429}
    assert sum(a.status == 401 for a in answers) >= 5
    busy = [a for a in answers if a.status == 429]
    for answer in busy:  # beyond the queue: refused at once, with when to come back
        assert answer.body["type"] == PROBS + "too-many-requests"
        assert int(answer.headers["Retry-After"]) >= 1


async def _right_among_wrong(
    login: Callable[..., Awaitable[Answer]], http: aiohttp.ClientSession, account: Account
) -> tuple[list[Answer], Answer]:
    async def right_one_late() -> Answer:
        await asyncio.sleep(0.3)  # the wrong ones are being checked now
        return await login(http, account.email, account.password)

    *wrong, right = await asyncio.gather(
        *(login(http, account.email, f"wrong-{i}") for i in range(39)), right_one_late()
    )
    return wrong, right


def _assert_locked(answer: Answer) -> None:
    assert answer.status == 429, answer.body
    assert answer.body["type"] == PROBS + "login-locked"
    assert "try again in" in answer.body["msg"]
    assert int(answer.headers["Retry-After"]) > 0


@pytest.mark.parametrize(
    ("where", "make_login", "limit"),
    [("webserver", web_login, WEB_LIMIT), ("/auth/authorize", manager_login, MANAGER_LIMIT)],
)
async def test_the_right_password_among_wrong_ones_is_refused(
    live_server: LiveServer,
    accounts: Accounts,
    where: str,
    make_login: Callable[[LiveServer], Callable[..., Awaitable[Answer]]],
    limit: int,
) -> None:
    login = make_login(live_server)
    (account,) = accounts.pick()
    async with client_from(fresh_address()) as http:
        wrong, right = await _right_among_wrong(login, http, account)
        checked = [a for a in wrong if a.status != 429]
        print(f"\n{where} burst: {len(checked)} of 39 wrong checked; right -> {right.status}")
        assert len(checked) <= limit
        assert all(a.status == 401 for a in checked)
        _assert_locked(right)
        _assert_locked(await login(http, account.email, account.password))


async def test_cross_site_post_and_websocket_are_refused(
    live_server: LiveServer, accounts: Accounts
) -> None:
    (account,) = accounts.pick()
    query = {"query": "{ keypair { access_key } }"}
    async with client_from(fresh_address()) as http:
        assert (await web_login(live_server)(http, account.email, account.password)).status == 200
        gql = live_server.webserver + "/func/admin/gql"
        refused = await _post(http, gql, query, {"Origin": EVIL})
        assert refused.status == 403
        assert "Cross-site request refused" in refused.body["msg"]
        same_site = await _post(http, gql, query, {"Origin": live_server.webserver})
        assert same_site.status == 200
        assert (await _post(http, gql, query)).status == 200  # the CLI sends no Origin

        stream = live_server.webserver + "/func/stream/session/no-such-session/execute"
        with pytest.raises(aiohttp.WSServerHandshakeError) as cross_site:
            await http.ws_connect(stream, origin=EVIL)
        assert cross_site.value.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as originless:
            await http.ws_connect(stream)
        assert originless.value.status == 404  # past the check, the manager knows no session


async def test_login_check_shows_no_cookie_value(
    live_server: LiveServer, accounts: Accounts
) -> None:
    (account,) = accounts.pick()
    async with client_from(fresh_address()) as http:
        async with http.post(
            live_server.webserver + "/server/login",
            json={"username": account.email, "password": account.password},
        ) as resp:
            assert resp.status == 200
            set_cookie = resp.headers["Set-Cookie"]
            token = resp.cookies["AIOHTTP_SESSION"].value
        flags = [part.strip().lower() for part in set_cookie.split(";")]
        assert "httponly" in flags
        assert "samesite=lax" in flags
        assert "secure" not in flags  # plain http on loopback
        async with http.post(live_server.webserver + "/server/login-check") as resp:
            text = await resp.text()
        assert token not in text
        assert '"authenticated": true' in text


async def _indistinguishable(
    attempts: dict[str, Callable[[], Awaitable[Answer]]], rounds: int = 5
) -> dict[str, float]:
    """Each kind of refused login ``rounds`` times, interleaved so that they share the
    machine's noise; every answer must be the same, and the median times close."""
    answers: dict[str, list[Answer]] = {kind: [] for kind in attempts}
    for _ in range(rounds):
        for kind, attempt in attempts.items():
            answers[kind].append(await attempt())
    first = answers["unknown email"][0]
    assert first.status == 401
    for kind, got in answers.items():
        for answer in got:
            assert (answer.status, answer.body) == (first.status, first.body), kind
    medians = {kind: statistics.median(a.seconds for a in got) for kind, got in answers.items()}
    print("\nmedian seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in medians.items()))
    # Without a bcrypt check an unknown email answered ~50x faster; a shared, busy machine
    # spreads equal work by up to 1.6x here, so allow 2.5x.
    assert min(medians.values()) >= 0.4 * max(medians.values()), medians
    return medians


async def test_refused_logins_at_the_webserver_are_indistinguishable(
    live_server: LiveServer, accounts: Accounts
) -> None:
    login = web_login(live_server)
    (real,) = accounts.pick()
    inactive, elsewhere = accounts.one_inactive(), accounts.one_elsewhere()
    async with client_from(fresh_address()) as http:

        def unknown() -> Awaitable[Answer]:
            return login(http, f"nobody-{uuid.uuid4().hex[:8]}@example.com", "wrong")

        await _indistinguishable({
            "unknown email": unknown,
            "wrong password": lambda: login(http, real.email, "wrong"),
            "other domain": lambda: login(http, elsewhere.email, elsewhere.password),
            "inactive": lambda: login(http, inactive.email, inactive.password),
        })  # fmt: skip


async def test_refused_logins_at_authorize_are_indistinguishable(
    live_server: LiveServer, accounts: Accounts
) -> None:
    login = manager_login(live_server)
    real, other = accounts.pick(2)
    inactive, elsewhere = accounts.one_inactive(), accounts.one_elsewhere()
    async with client_from(fresh_address()) as http:

        def unknown() -> Awaitable[Answer]:
            return login(http, f"nobody-{uuid.uuid4().hex[:8]}@example.com", "wrong")

        await _indistinguishable({
            "unknown email": unknown,
            "wrong password": lambda: login(http, real.email, "wrong"),
            "other domain": lambda: login(http, elsewhere.email, elsewhere.password),
            "inactive": lambda: login(http, inactive.email, inactive.password),
            "right password, wrong domain asked": lambda: login(
                http, other.email, other.password, domain=accounts.domain
            ),
        })  # fmt: skip
