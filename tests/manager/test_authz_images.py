"""Authorization probes for the IMAGE rows and (SESSION, COMMIT), every role, through the real
GraphQL and REST endpoints: demo's private image (a committed session) and the public image.

What a role may not reach reads exactly like something that does not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backendai.common.statuses import SessionStatus
from tests.fixtures.platform import running_manager
from tests.manager.conftest import FAST, wait_status
from tests.manager.conftest import create_body as client_body
from tests.manager.fake_agent import FakeAgent
from tests.manager.tenants import Tenants, add_tenants

PUBLIC = "backendai/python:3.11-debian12"
NAMES = "{ images { name tag } }"
ALIAS = "mutation($a: String!, $t: String!) { alias_image(alias: $a, target: $t) { ok msg } }"
DEALIAS = "mutation($a: String!) { dealias_image(alias: $a) { ok msg } }"
RESCAN = "mutation { rescan_images { ok msg task_id } }"
DELETE = "mutation($r: String!) { delete_image(reference: $r) { ok msg } }"
REFUSED, MISSING = "insufficient-privilege", "image-not-found"


@dataclass(frozen=True)
class Expect:
    sees: bool  # lists demo's private image
    uses: bool  # starts a session of it (else: image not found)
    deletes: str  # "ok", REFUSED or MISSING
    commits: int  # HTTP status of committing demo's session on demo's behalf
    admin: bool  # aliases, dealiases, rescans


EXPECT = {
    "superadmin": Expect(True, True, "ok", 201, True),
    "dadmin": Expect(True, True, "ok", 201, False),
    "mon": Expect(True, False, REFUSED, 403, False),
    "demo": Expect(True, True, "ok", 201, False),
    "bob": Expect(False, False, MISSING, 403, False),
    "oadmin": Expect(False, False, MISSING, 404, False),
    "carol": Expect(False, False, MISSING, 403, False),
}


@dataclass
class World:
    tenants: Tenants
    private: str


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running_manager(
        tmp_path, scheduler_interval=FAST["scheduler_interval"], kernel_vanish_grace=0.0
    ) as harness:
        agent = FakeAgent()
        await agent.start()
        try:
            tenants = await add_tenants(harness)
            assert await agent.send_heartbeat(harness) == 200
            private = await _commit_demo(tenants)
            yield World(tenants, private)
        finally:
            await agent.close()


async def _running(tenants: Tenants, who: str, name: str) -> None:
    body = client_body(name, "python", domain=tenants[who].domain)
    status, answer = await tenants.call(who, "POST", "/session", body)
    assert status == 201, answer
    await wait_status(tenants.harness, answer["sessionId"], SessionStatus.RUNNING)


async def _commit_demo(tenants: Tenants) -> str:
    await _running(tenants, "demo", "source")
    status, body = await tenants.call("demo", "POST", "/session/source/commit", {"tag": "probe"})
    assert status == 201, body
    return str(body["image"])


def _code(body: dict[str, Any]) -> str:
    if not body["errors"]:
        return "ok"
    return str(body["errors"][0]["extensions"]["code"])


@pytest.mark.parametrize("who", sorted(EXPECT))
async def test_role(world: World, who: str) -> None:
    t, expect = world.tenants, EXPECT[who]
    listed = (await t.gql(who, NAMES))["data"]["images"]
    assert any(i["tag"] == "3.11-debian12" for i in listed)  # public: everyone's
    assert any(i["tag"] == "probe" for i in listed) is expect.sees

    body = client_body("use-it", world.private, domain=t[who].domain, enqueueOnly=True)
    status, answer = await t.call(who, "POST", "/session", body)
    assert (status == 201) is expect.uses, answer
    if not expect.uses:
        assert status == 404 and answer["type"].endswith(MISSING), answer

    query = f"?owner_access_key={t['demo'].access_key}"
    status, answer = await t.call(who, "POST", f"/session/source/commit{query}", {"tag": who})
    assert status == expect.commits, answer

    for doc, variables in (
        (ALIAS, {"a": f"alias-{who}", "t": PUBLIC}),
        (DEALIAS, {"a": "python"}),
        (RESCAN, None),
    ):
        code = _code(await t.gql(who, doc, variables))
        assert code == ("ok" if expect.admin else REFUSED), (doc, code)

    # Only superadmins remove a public image's record (and are told it is not removable here).
    public = await t.gql(who, DELETE, {"r": PUBLIC})
    assert _code(public) == ("invalid-api-params" if who == "superadmin" else REFUSED)
    assert _code(await t.gql(who, DELETE, {"r": world.private})) == expect.deletes


async def test_group_members_use_but_never_remove(world: World) -> None:
    t = world.tenants
    status, body = await t.call(
        "demo", "POST", "/session/source/commit", {"tag": "team", "share_with_group": True}
    )
    assert status == 201, body
    shared = body["image"]
    run = client_body("bobs", shared, domain="default", enqueueOnly=True)
    assert (await t.call("bob", "POST", "/session", run))[0] == 201
    assert _code(await t.gql("bob", DELETE, {"r": shared})) == REFUSED
    assert _code(await t.gql("carol", DELETE, {"r": shared})) == MISSING
