"""A resource group's capacity and occupancy in GraphQL (``scaling_group(s)``'s
``agent_count_by_status`` and ``agent_total_resource_slots_by_status``, Backend.AI 24.03.7's
names): the sums of its agents' slots and of what the sessions on them hold."""

from __future__ import annotations

import json

from backendai.manager.db.meta import utcnow
from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import create
from tests.manager.fake_agent import FakeAgent

Q = """query($name: String) { scaling_group(name: $name) {
  name alive: agent_count_by_status lost: agent_count_by_status(status: "LOST")
  slots: agent_total_resource_slots_by_status
  lost_slots: agent_total_resource_slots_by_status(status: "lost") } }"""
LIST_Q = (
    "query { scaling_groups { name agent_count_by_status agent_total_resource_slots_by_status } }"
)


async def test_capacity_and_occupancy_follow_the_sessions(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    body = await platform.gql(Q, {"name": "default"}, as_="superadmin")
    node = body["data"]["scaling_group"]
    assert node["alive"] == 1 and node["lost"] == 0
    empty = json.loads(node["slots"])
    total = empty["available_slots"]
    assert total["cpu"] == "4" and empty["occupied_slots"] == {}
    assert json.loads(node["lost_slots"]) == {"available_slots": {}, "occupied_slots": {}}

    status, _ = await create(platform, "cap-1", config={"resources": {"cpu": "3"}})
    assert status == 201
    body = await platform.gql(Q, {"name": "default"}, as_="superadmin")
    slots = json.loads(body["data"]["scaling_group"]["slots"])
    assert slots["available_slots"] == total
    assert slots["occupied_slots"]["cpu"] == "3"

    # Once the agent is lost, its capacity counts under LOST, not ALIVE.
    await platform.ctx.agents.mark_lost(utcnow().replace(year=utcnow().year + 1))
    body = await platform.gql(Q, {"name": "default"}, as_="superadmin")
    node = body["data"]["scaling_group"]
    assert node["alive"] == 0 and node["lost"] == 1
    assert json.loads(node["lost_slots"])["available_slots"] == total


async def test_listing_and_a_users_view(platform: ManagerHarness, joined: FakeAgent) -> None:
    body = await platform.gql(LIST_Q, as_="superadmin")
    [group] = [g for g in body["data"]["scaling_groups"] if g["name"] == "default"]
    assert group["agent_count_by_status"] == 1
    assert json.loads(group["agent_total_resource_slots_by_status"])["available_slots"]["cpu"]
    # A user sees the groups it may start sessions in, with their capacity.
    body = await platform.gql(LIST_Q)
    assert [g["name"] for g in body["data"]["scaling_groups"]] == ["default"]


async def test_unknown_status_is_named(platform: ManagerHarness, joined: FakeAgent) -> None:
    q = 'query { scaling_group(name: "default") { agent_count_by_status(status: "ASLEEP") } }'
    body = await platform.gql(q, as_="superadmin")
    assert body["data"] is None or body["data"]["scaling_group"] is None
    assert "Unknown agent status 'ASLEEP'" in body["errors"][0]["message"]
