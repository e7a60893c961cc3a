"""Resource administration through the API, with the queries Backend.AI's client 20.9.9 sends:
keypair resource policies (and that they apply), scaling groups (and that a keypair starts
sessions only in its own), agents and the scheduler's include/exclude, presets, storage
volumes, usage statistics and the resource configuration."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from backendai.common.statuses import SessionStatus
from backendai.manager.db.meta import utcnow
from backendai.manager.db.models import Agent, KeyPair
from tests.fixtures.platform import ManagerHarness, running_manager
from tests.manager.conftest import FAST, create_body, wait_status
from tests.manager.fake_agent import FakeAgent
from tests.manager.tenants import Tenants, add_tenants

POLICY_CREATE = (
    "mutation($name: String!, $input: CreateKeyPairResourcePolicyInput!) {"
    "  create_keypair_resource_policy(name: $name, props: $input) {"
    "    ok msg resource_policy { name }  }}"
)
POLICY_MODIFY = (
    "mutation($name: String!, $input: ModifyKeyPairResourcePolicyInput!) {"
    "  modify_keypair_resource_policy(name: $name, props: $input) {    ok msg  }}"
)
POLICY_DELETE = (
    "mutation($name: String!) {  delete_keypair_resource_policy(name: $name) {    ok msg  }}"
)
POLICY_LIST = (
    "query {  keypair_resource_policies {    name created_at default_for_unspecified "
    "total_resource_slots max_concurrent_sessions max_containers_per_session "
    "max_vfolder_count max_vfolder_size idle_timeout allowed_vfolder_hosts  }}"
)
SG_CREATE = (
    "mutation($name: String!, $input: CreateScalingGroupInput!) {\n"
    "    create_scaling_group(name: $name, props: $input) {\n"
    "        ok msg scaling_group {name}\n    }\n}\n"
)
SG_ASSOCIATE = (
    "mutation($scaling_group: String!, $domain: String!) {\n"
    "    associate_scaling_group_with_domain(\n"
    "            scaling_group: $scaling_group, domain: $domain) {\n        ok msg\n    }\n}\n"
)
AGENT_LIST = (
    "query($limit:Int!, $offset:Int!, $status: String, $scaling_group: String, "
    "$filter: String, $order: String) {\n  agent_list(\n      limit:$limit, offset:$offset, "
    "status:$status, scaling_group:$scaling_group, filter:$filter, order:$order) {\n"
    "    items { id status scaling_group region first_contact cpu_cur_pct mem_cur_bytes "
    "available_slots occupied_slots }\n    total_count\n  }\n}"
)


def policy_input(**overrides: Any) -> dict[str, Any]:
    """What ``admin keypair-resource-policies add`` sends by default."""
    return {
        "default_for_unspecified": "UNLIMITED", "total_resource_slots": "{}",
        "max_concurrent_sessions": 30, "max_containers_per_session": 1,
        "max_vfolder_count": 10, "max_vfolder_size": 0, "idle_timeout": 1800,
        "allowed_vfolder_hosts": ["local"],
    } | overrides  # fmt: skip


def sg_input(**overrides: Any) -> dict[str, Any]:
    return {"description": "", "is_active": True, "driver": "static", "driver_opts": "{}",
            "scheduler": "fifo", "scheduler_opts": "{}"} | overrides  # fmt: skip


def error_of(body: dict[str, Any]) -> str:
    errors = body.get("errors") or []
    assert errors, body
    return str(errors[0]["message"])


@pytest.fixture
async def world(platform: ManagerHarness, agent: FakeAgent) -> AsyncIterator[Tenants]:
    """Tenants of every role, then the fake agent joined (with the tenants' image)."""
    tenants = await add_tenants(platform)
    assert await agent.send_heartbeat(platform) == 200
    yield tenants


async def set_policy(t: Tenants, who: str, policy: str) -> None:
    """What ``admin keypairs update --resource-policy`` does (another area's mutation)."""
    async with t.harness.ctx.db() as db, db.begin():
        await db.execute(
            sa.update(KeyPair)
            .where(KeyPair.access_key == t[who].access_key)
            .values(resource_policy=policy)
        )


async def create_session(
    t: Tenants, who: str, name: str, **config: Any
) -> tuple[int, dict[str, Any]]:
    body = create_body(name, "backendai/python:3.11-debian12", enqueueOnly=True)
    body["domain"] = t[who].domain
    body["config"].update(config)
    status, answer = await t.call(who, "POST", "/session", body)
    assert isinstance(answer, dict)
    return status, answer


# -- keypair resource policies ---------------------------------------------------------------


async def test_policy_add_update_list_delete(world: Tenants) -> None:
    slots = '{"cpu": "2", "mem": "4g"}'
    body = await world.gql(
        "superadmin",
        POLICY_CREATE,
        {"name": "small", "input": policy_input(total_resource_slots=slots, idle_timeout=600)},
    )
    assert body["data"]["create_keypair_resource_policy"] == {
        "ok": True, "msg": "success", "resource_policy": {"name": "small"},
    }  # fmt: skip
    modify = {name: None for name in policy_input()} | {"max_concurrent_sessions": 2}
    body = await world.gql("superadmin", POLICY_MODIFY, {"name": "small", "input": modify})
    assert body["data"]["modify_keypair_resource_policy"]["ok"] is True
    listed = (await world.gql("superadmin", POLICY_LIST))["data"]["keypair_resource_policies"]
    small = next(p for p in listed if p["name"] == "small")
    assert small["max_concurrent_sessions"] == 2  # changed
    assert small["idle_timeout"] == 600  # kept: None leaves a limit as it was
    assert small["total_resource_slots"] == '{"cpu": "2", "mem": "4294967296"}'
    assert small["allowed_vfolder_hosts"] == ["local"]
    body = await world.gql("superadmin", POLICY_DELETE, {"name": "small"})
    assert body["data"]["delete_keypair_resource_policy"]["ok"] is True
    listed = (await world.gql("superadmin", POLICY_LIST))["data"]["keypair_resource_policies"]
    assert "small" not in {p["name"] for p in listed}


async def test_policy_in_use_is_not_deleted_and_the_refusal_names_its_keypairs(
    world: Tenants,
) -> None:
    await world.gql("superadmin", POLICY_CREATE, {"name": "used", "input": policy_input()})
    await set_policy(world, "bob", "used")
    body = await world.gql("superadmin", POLICY_DELETE, {"name": "used"})
    message = error_of(body)
    assert "still used" in message and world["bob"].access_key in message
    assert body["errors"][0]["extensions"]["code"] == "invalid-api-params"
    listed = (await world.gql("superadmin", POLICY_LIST))["data"]["keypair_resource_policies"]
    assert "used" in {p["name"] for p in listed}  # nothing deleted


async def test_policy_bad_input_is_refused_clearly(world: Tenants) -> None:
    body = await world.gql(
        "superadmin",
        POLICY_CREATE,
        {"name": "bad", "input": policy_input(total_resource_slots='{"gpu": "1"}')},
    )
    assert "gpu" in error_of(body)
    body = await world.gql(
        "superadmin", POLICY_CREATE, {"name": "default", "input": policy_input()}
    )
    assert "already exists" in error_of(body)
    body = await world.gql("superadmin", POLICY_DELETE, {"name": "nope"})
    assert "nope" in error_of(body)


async def test_policy_of_one_concurrent_session_refuses_the_second_with_the_reason(
    world: Tenants,
) -> None:
    inp = policy_input(max_concurrent_sessions=1)
    await world.gql("superadmin", POLICY_CREATE, {"name": "one", "input": inp})
    await set_policy(world, "bob", "one")
    status, _ = await create_session(world, "bob", "first")
    assert status == 201
    status, answer = await create_session(world, "bob", "second")
    assert status == 400
    assert answer["type"].endswith("/quota-exceeded")
    assert "limit is 1" in answer["msg"]
    # Another keypair of the default policy is not limited by bob's.
    assert (await create_session(world, "demo", "other"))[0] == 201


async def test_policy_total_slots_keep_a_session_pending_with_the_reason(
    world: Tenants,
) -> None:
    inp = policy_input(total_resource_slots='{"cpu": "1"}')
    await world.gql("superadmin", POLICY_CREATE, {"name": "onecpu", "input": inp})
    await set_policy(world, "bob", "onecpu")
    _, first = await create_session(world, "bob", "first", resources={"cpu": 1})
    await wait_status(world.harness, first["sessionId"], SessionStatus.RUNNING)
    _, second = await create_session(world, "bob", "second", resources={"cpu": 1})
    await world.harness.ctx.scheduler.run_pass()
    s = await wait_status(world.harness, second["sessionId"], SessionStatus.PENDING)
    assert "resource policy" in (s.status_info or ""), s.status_info


async def test_policy_max_session_lifetime_ends_sessions_that_ran_too_long(
    world: Tenants,
) -> None:
    """Not sent by client 20.9.9, but part of a policy: the idle sweep applies it."""
    inp = policy_input(max_session_lifetime=600, idle_timeout=0)
    await world.gql("superadmin", POLICY_CREATE, {"name": "short", "input": inp})
    await set_policy(world, "bob", "short")
    _, created = await create_session(world, "bob", "short-lived")
    sid = uuid.UUID(created["sessionId"])
    await wait_status(world.harness, sid, SessionStatus.RUNNING)
    idle = world.harness.ctx.idle
    assert await idle.sweep(utcnow() + timedelta(minutes=9)) == []
    assert await idle.sweep(utcnow() + timedelta(minutes=11)) == [sid]
    s = await wait_status(world.harness, sid, SessionStatus.TERMINATED)
    assert s.status_info == "max-session-lifetime"


async def test_a_user_reads_its_own_policy_only_and_may_not_change_any(world: Tenants) -> None:
    q = "query($name: String) {  keypair_resource_policy(name: $name) {    name  }}"
    body = await world.gql("demo", q, {"name": None})
    assert body["data"]["keypair_resource_policy"] == {"name": "default"}
    body = await world.gql("demo", POLICY_CREATE, {"name": "mine", "input": policy_input()})
    assert "user role may not create policys" in error_of(body).replace("policies", "policys")


# -- scaling groups --------------------------------------------------------------------------


async def test_scaling_group_add_associate_and_sessions_only_in_associated_groups(
    world: Tenants,
) -> None:
    body = await world.gql("superadmin", SG_CREATE, {"name": "gpu", "input": sg_input()})
    assert body["data"]["create_scaling_group"]["scaling_group"] == {"name": "gpu"}
    # Not associated with bob's domain, group or keypair: refused, naming the group.
    status, answer = await create_session(world, "bob", "sess-s1", scalingGroup="gpu")
    assert status == 403 and "gpu" in answer["msg"]
    body = await world.gql(
        "superadmin", SG_ASSOCIATE, {"scaling_group": "gpu", "domain": "default"}
    )
    assert body["data"]["associate_scaling_group_with_domain"]["ok"] is True
    status, answer = await create_session(world, "bob", "sess-s2", scalingGroup="gpu")
    assert status == 201, answer
    # carol's domain ("other") is not associated with it.
    status, answer = await create_session(world, "carol", "sess-s3", scalingGroup="gpu")
    assert status == 403
    # The REST list of what a user may use (admin list-scaling-groups).
    status, listed = await world.call("bob", "GET", "/scaling-groups?group=default")
    assert status == 200 and {g["name"] for g in listed["scaling_groups"]} == {"default", "gpu"}


async def test_unknown_scaling_group_is_a_clear_404(world: Tenants) -> None:
    body = await world.gql(
        "superadmin", SG_ASSOCIATE, {"scaling_group": "nowhere", "domain": "default"}
    )
    assert "nowhere" in error_of(body)
    assert body["errors"][0]["extensions"]["code"] == "generic-not-found"
    status, answer = await create_session(world, "bob", "sess-s", scalingGroup="nowhere")
    assert status == 404 and "nowhere" in answer["msg"], answer


async def test_scaling_group_associations_with_groups_and_keypairs(world: Tenants) -> None:
    await world.gql("superadmin", SG_CREATE, {"name": "team", "input": sg_input()})
    q = (
        "mutation($scaling_group: String!, $user_group: UUID!) {\n"
        "    associate_scaling_group_with_user_group(\n"
        "            scaling_group: $scaling_group, user_group: $user_group) {\n"
        "        ok msg\n    }\n}\n"
    )
    group = str(world.groups["default/default"])
    body = await world.gql("superadmin", q, {"scaling_group": "team", "user_group": group})
    assert body["data"]["associate_scaling_group_with_user_group"]["ok"] is True
    assert (await create_session(world, "bob", "sess-t1", scalingGroup="team"))[0] == 201
    # The association is listed with the group (the web UI's resource-group dialog reads it).
    listed = "query($id: UUID!) { group(id: $id) { scaling_groups } }"
    body = await world.gql("superadmin", listed, {"id": group})
    assert body["data"]["group"]["scaling_groups"] == ["team"]
    body = await world.gql("bob", "query { groups { name scaling_groups } }")
    assert {"name": "default", "scaling_groups": ["team"]} in body["data"]["groups"]
    q = (
        "mutation($scaling_group: String!, $user_group: String!) {\n"
        "    disassociate_scaling_group_with_user_group(\n"
        "            scaling_group: $scaling_group, user_group: $user_group) {\n"
        "        ok msg\n    }\n}\n"
    )
    body = await world.gql("superadmin", q, {"scaling_group": "team", "user_group": group})
    assert body["data"]["disassociate_scaling_group_with_user_group"]["ok"] is True
    body = await world.gql("superadmin", listed, {"id": group})
    assert body["data"]["group"]["scaling_groups"] == []
    assert (await create_session(world, "bob", "sess-t2", scalingGroup="team"))[0] == 403
    q = (
        "mutation($scaling_group: String!, $access_key: String!) {"
        " associate_scaling_group_with_keypair(scaling_group: $scaling_group,"
        " access_key: $access_key) { ok msg } }"
    )
    access_key = world["bob"].access_key
    await world.gql("superadmin", q, {"scaling_group": "team", "access_key": access_key})
    assert (await create_session(world, "bob", "sess-t3", scalingGroup="team"))[0] == 201
    assert (await create_session(world, "demo", "sess-t4", scalingGroup="team"))[0] == 403


async def test_scaling_group_with_sessions_or_agents_is_not_deleted(world: Tenants) -> None:
    delete = "mutation($name: String!) { delete_scaling_group(name: $name) { ok msg } }"
    body = await world.gql("superadmin", delete, {"name": "default"})
    assert "agent-1" in error_of(body)
    await world.gql("superadmin", SG_CREATE, {"name": "empty", "input": sg_input()})
    body = await world.gql("superadmin", delete, {"name": "empty"})
    assert body["data"]["delete_scaling_group"]["ok"] is True


# -- agents and the scheduler ----------------------------------------------------------------


async def test_agent_list_and_detail(world: Tenants) -> None:
    variables = {"limit": 20, "offset": 0, "status": "ALIVE", "scaling_group": None,
                 "filter": None, "order": None}  # fmt: skip
    body = await world.gql("superadmin", AGENT_LIST, variables)
    page = body["data"]["agent_list"]
    assert page["total_count"] == 1
    item = page["items"][0]
    assert item["id"] == "agent-1" and item["status"] == "ALIVE"
    assert item["available_slots"] == '{"cpu": "4", "mem": "8589934592"}'
    q = 'query { agent(agent_id: "agent-1") { id images occupied_slots schedulable } }'
    agent = (await world.gql("superadmin", q))["data"]["agent"]
    assert "backendai/python:3.11-debian12" in agent["images"]
    assert agent["schedulable"] is True
    body = await world.gql("demo", AGENT_LIST, variables)
    assert "user role may not list agents" in error_of(body)


async def test_excluded_agent_gets_no_session_until_included(world: Tenants) -> None:
    op = {"op": "exclude-agents", "args": ["agent-1"]}
    status, _ = await world.call("superadmin", "POST", "/manager/scheduler/operation", op)
    assert status == 204
    _, created = await create_session(world, "bob", "waits")
    await world.harness.ctx.scheduler.run_pass()
    s = await wait_status(world.harness, created["sessionId"], SessionStatus.PENDING)
    assert s.status_info and "no agent" in s.status_info
    op = {"op": "include-agents", "args": ["agent-1"]}
    status, _ = await world.call("superadmin", "POST", "/manager/scheduler/operation", op)
    assert status == 204
    await wait_status(world.harness, created["sessionId"], SessionStatus.RUNNING)


async def test_scheduler_operation_refuses_unknown_agents_and_ops(world: Tenants) -> None:
    op = {"op": "exclude-agents", "args": ["agent-1", "ghost"]}
    status, answer = await world.call("superadmin", "POST", "/manager/scheduler/operation", op)
    assert status == 404 and "ghost" in answer["msg"]
    async with world.harness.ctx.db() as db:
        assert (await db.get_one(Agent, "agent-1")).schedulable  # all or nothing
    op = {"op": "reboot", "args": []}
    status, _ = await world.call("superadmin", "POST", "/manager/scheduler/operation", op)
    assert status == 400
    status, answer = await world.call("demo", "POST", "/manager/scheduler/operation", op | {
        "op": "include-agents"})  # fmt: skip
    assert status == 403


async def test_recalculate_usage_sets_agents_occupancy_from_live_kernels(world: Tenants) -> None:
    _, created = await create_session(world, "bob", "runs", resources={"cpu": 2})
    await wait_status(world.harness, created["sessionId"], SessionStatus.RUNNING)
    async with world.harness.ctx.db() as db, db.begin():
        (await db.get_one(Agent, "agent-1")).occupied_slots = {"cpu": "99"}
    status, answer = await world.call("superadmin", "POST", "/resource/recalculate-usage")
    assert status == 200
    assert answer["agents"]["agent-1"]["cpu"] == "2"
    async with world.harness.ctx.db() as db:
        assert (await db.get_one(Agent, "agent-1")).occupied_slots["cpu"] == "2"


# -- presets, storage, usage, configuration --------------------------------------------------


async def test_presets_create_list_check_modify_delete(world: Tenants) -> None:
    q = (
        "mutation($name: String!, $props: CreateResourcePresetInput!) {"
        " create_resource_preset(name: $name, props: $props) { ok msg } }"
    )
    for name, slots in (("small", '{"cpu": "1", "mem": "1g"}'), ("huge", '{"cpu": "64"}')):
        body = await world.gql("superadmin", q, {"name": name, "props": {"resource_slots": slots}})
        assert body["data"]["create_resource_preset"]["ok"] is True
    status, listed = await world.call("demo", "GET", "/resource/presets")
    assert status == 200
    assert [p["name"] for p in listed["presets"]] == ["huge", "small"]
    status, checked = await world.call("demo", "POST", "/resource/check-presets")
    assert status == 200
    fits = {p["name"]: p["allocatable"] for p in checked["presets"]}
    assert fits == {"small": True, "huge": False}
    assert "default" in checked["scaling_groups"]
    q = (
        "mutation($name: String!, $props: ModifyResourcePresetInput!) {"
        " modify_resource_preset(name: $name, props: $props) { ok msg } }"
    )
    await world.gql("superadmin", q, {"name": "small", "props": {"shared_memory": "64m"}})
    q = "mutation($name: String!) { delete_resource_preset(name: $name) { ok msg } }"
    await world.gql("superadmin", q, {"name": "huge"})
    _, listed = await world.call("demo", "GET", "/resource/presets")
    assert listed["presets"] == [{"name": "small", "resource_slots": {"cpu": "1", "mem":
                                  "1073741824"}, "shared_memory": str(64 * 2**20)}]  # fmt: skip


async def test_storage_volumes(world: Tenants) -> None:
    q = (
        "query($limit:Int!, $offset:Int!, $filter: String, $order: String) {\n"
        "  storage_volume_list(\n      limit:$limit, offset:$offset, filter:$filter, "
        "order:$order) {\n    items { id backend capabilities }\n    total_count\n  }\n}"
    )
    variables = {"limit": 20, "offset": 0, "filter": None, "order": None}
    page = (await world.gql("superadmin", q, variables))["data"]["storage_volume_list"]
    assert {"id": "local", "backend": "vfs", "capabilities": ["vfolder"]} in page["items"]
    q = (
        "query($vfolder_host: String!) {\n    storage_volume(id: $vfolder_host) "
        "{id backend path fsprefix capabilities hardware_metadata}\n}\n"
    )
    volume = (await world.gql("superadmin", q, {"vfolder_host": "local"}))["data"]
    assert volume["storage_volume"]["id"] == "local"
    body = await world.gql("superadmin", q, {"vfolder_host": "elsewhere"})
    assert "elsewhere" in error_of(body)


async def test_usage_per_period_and_month_from_kernels(world: Tenants) -> None:
    _, created = await create_session(world, "bob", "used", resources={"cpu": 1})
    await wait_status(world.harness, created["sessionId"], SessionStatus.RUNNING)
    group = str(world.groups["default/default"])
    today = utcnow().strftime("%Y%m%d")
    body: dict[str, Any] = {"group_id": group, "start_date": today, "end_date": today}
    status, usage = await world.call("superadmin", "GET", "/resource/usage/period", body)
    assert status == 200, usage
    assert usage["g_id"] == group and usage["g_name"] == "default"
    (c_info,) = usage["c_infos"]
    assert c_info["name"] == "used" and c_info["access_key"] == world["bob"].access_key
    assert c_info["smp"] == 1.0 and isinstance(c_info["terminated_at"], str)
    body = {"month": utcnow().strftime("%Y%m"), "group_ids": [group]}
    status, month = await world.call("superadmin", "GET", "/resource/usage/month", body)
    assert status == 200 and month[0]["g_id"] == group
    # A domain admin of another domain does not see this domain's group.
    status, _ = await world.call("oadmin", "GET", "/resource/usage/month", body)
    assert status == 404
    body = {"group_id": group, "start_date": "2026-01-01", "end_date": today}
    status, answer = await world.call("superadmin", "GET", "/resource/usage/period", body)
    assert status == 400 and "yyyymmdd" in answer["msg"]
    body = {"group_id": str(uuid.uuid4()), "start_date": "20200101", "end_date": "20200102"}
    status, _ = await world.call("superadmin", "GET", "/resource/usage/period", body)
    assert status == 404


async def test_resource_configuration(world: Tenants) -> None:
    status, slots = await world.call("demo", "GET", "/config/resource-slots")
    assert status == 200 and slots["cpu"] == "count" and slots["mem"] == "bytes"
    status, types = await world.call("superadmin", "GET", "/config/vfolder-types")
    assert status == 200 and types == ["user", "group"]
    status, registries = await world.call("superadmin", "GET", "/config/docker-registries")
    assert status == 200 and registries == {}
    status, answer = await world.call("demo", "GET", "/config/docker-registries")
    assert status == 403 and "user role" in answer["msg"]


async def test_the_main_flow_on_each_engine(db_url: str, tmp_path: Path) -> None:
    """Policies, scaling groups and their SQL (unions, casts, prefixes) on SQLite and PostgreSQL."""
    async with running_manager(tmp_path, db_url, **FAST) as harness:
        t = await add_tenants(harness)
        agent = FakeAgent()
        await agent.start()
        try:
            assert await agent.send_heartbeat(harness) == 200
            inp = policy_input(max_concurrent_sessions=1, total_resource_slots='{"cpu": "2"}')
            await t.gql("superadmin", POLICY_CREATE, {"name": "one", "input": inp})
            await set_policy(t, "bob", "one")
            await t.gql("superadmin", SG_CREATE, {"name": "gpu", "input": sg_input()})
            await t.gql("superadmin", SG_ASSOCIATE, {"scaling_group": "gpu", "domain": "default"})
            sgs = (await t.gql("bob", "query { scaling_groups { name } }"))["data"]
            assert {g["name"] for g in sgs["scaling_groups"]} == {"default", "gpu"}
            sgs = (await t.gql("carol", "query { scaling_groups { name } }"))["data"]
            assert {g["name"] for g in sgs["scaling_groups"]} == {"default"}
            status, answer = await create_session(t, "bob", "sess-one", resources={"cpu": 1})
            assert status == 201, answer
            await wait_status(harness, answer["sessionId"], SessionStatus.RUNNING)
            assert (await create_session(t, "bob", "sess-two"))[0] == 400
            body = await t.gql("superadmin", POLICY_DELETE, {"name": "one"})
            assert t["bob"].access_key in error_of(body)
            status, checked = await t.call(
                "bob", "POST", "/resource/check-presets", {"group": "default"}
            )
            assert status == 200 and checked["keypair_using"] == {"cpu": "1", "mem": "536870912"}
            assert checked["keypair_remaining"]["cpu"] == "1"
            status, _ = await t.call("superadmin", "GET", "/config/docker-registries")
            assert status == 200
            today = utcnow().strftime("%Y%m%d")
            body2 = {"group_id": str(t.groups["default/default"]), "start_date": today,
                     "end_date": today}  # fmt: skip
            status, usage = await t.call("superadmin", "GET", "/resource/usage/period", body2)
            assert status == 200 and len(usage["c_infos"]) == 1
        finally:
            await agent.close()
