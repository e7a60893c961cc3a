"""Whose sweeps a request reaches: the owner's; other users get 404 exactly as for a sweep that
does not exist; administrators read those the sessions' authorization lets them read."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from backendai.common.batch_tasks import SESSION_SWEEP, SESSION_SWEEPS
from tests.fixtures.platform import ManagerHarness
from tests.manager.tenants import IMAGE, Tenants, add_tenants
from tests.manager.test_sweeps import sweep_body


@pytest.fixture
async def world(platform: ManagerHarness) -> Tenants:
    """Tenants of every role (no agent: the cases stay PENDING)."""
    return await add_tenants(platform)


async def demo_sweep(w: Tenants) -> dict[str, Any]:
    status, body = await w.call("demo", "POST", SESSION_SWEEPS, sweep_body(image=IMAGE))
    assert status == 201, body
    return dict(body)


def problem(body: Any) -> str:
    return str(body["type"]).rsplit("/", 1)[-1]


async def listed(w: Tenants, who: str) -> list[str]:
    status, body = await w.call(who, "GET", SESSION_SWEEPS)
    assert status == 200, body
    return [s["id"] for s in body["sweeps"]]


@pytest.mark.parametrize("who", ["bob", "carol", "oadmin"])
async def test_another_users_sweep_reads_as_one_that_does_not_exist(
    world: Tenants, who: str
) -> None:
    sweep = await demo_sweep(world)
    path = SESSION_SWEEP.format(sweep_id=sweep["id"])
    ghost_id = str(uuid.uuid4())
    ghost = SESSION_SWEEP.format(sweep_id=ghost_id)
    for method in ("GET", "DELETE"):
        status, body = await world.call(who, method, path)
        ghost_status, ghost_body = await world.call(who, method, ghost)
        assert (status, problem(body)) == (404, "sweep-not-found"), body
        assert (ghost_status, problem(ghost_body)) == (404, "sweep-not-found"), ghost_body
        assert body["msg"].replace(sweep["id"], "ID") == ghost_body["msg"].replace(ghost_id, "ID")
    assert sweep["id"] not in await listed(world, who)
    status, body = await world.call("demo", "GET", path)
    assert status == 200 and body["counts"]["pending"] == 4, body  # nothing was cancelled


@pytest.mark.parametrize("who", ["superadmin", "dadmin", "mon"])
async def test_administrators_read_the_sweeps_of_their_reach(world: Tenants, who: str) -> None:
    sweep = await demo_sweep(world)
    status, body = await world.call(who, "GET", SESSION_SWEEP.format(sweep_id=sweep["id"]))
    assert status == 200, body
    assert [c["session_name"] for c in body["caseList"]] == [f"seed-{i}" for i in range(4)]
    # Their own listing is theirs; another user's is asked for by access key.
    assert sweep["id"] not in await listed(world, who)
    key = world["demo"].access_key
    status, body = await world.call(who, "GET", f"{SESSION_SWEEPS}?owner_access_key={key}")
    assert status == 200 and [s["id"] for s in body["sweeps"]] == [sweep["id"]], body


async def test_a_monitor_may_read_but_not_cancel(world: Tenants) -> None:
    sweep = await demo_sweep(world)
    path = SESSION_SWEEP.format(sweep_id=sweep["id"])
    status, body = await world.call("mon", "DELETE", path)
    assert (status, problem(body)) == (403, "insufficient-privilege"), body
    status, body = await world.call("demo", "GET", path)
    assert body["counts"]["pending"] == 4


async def test_a_domain_admin_may_cancel_a_users_sweep(world: Tenants) -> None:
    sweep = await demo_sweep(world)
    status, body = await world.call("dadmin", "DELETE", SESSION_SWEEP.format(sweep_id=sweep["id"]))
    assert status == 200, body
    assert body["counts"]["cancelled"] == 4 and body["finished"] is True


async def test_the_owner_sees_it_and_a_malformed_id_is_a_bad_request(world: Tenants) -> None:
    sweep = await demo_sweep(world)
    assert await listed(world, "demo") == [sweep["id"]]
    for bad in ("not-a-uuid", "1234"):
        status, body = await world.call("demo", "GET", SESSION_SWEEP.format(sweep_id=bad))
        assert status == 400 and "Invalid sweep id" in body["msg"], body
    status, body = await world.call(
        "bob", "GET", f"{SESSION_SWEEPS}?owner_access_key={world['demo'].access_key}"
    )
    assert status in (403, 404), body
