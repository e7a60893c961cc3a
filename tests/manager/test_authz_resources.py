"""The resource rows of the authorization table (policies, presets, scaling groups, agents,
storage, usage) probed through the real endpoints for every role.

Each probe does the action once as an actor and reports ``ok`` or ``denied`` (the refusal's
code); the expectation is read from an independent copy of the rows below, not from
``backendai.manager.authz``."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.fixtures.platform import running_manager
from tests.manager.tenants import Tenants, add_tenants

ROLES = {"superadmin": "superadmin", "dadmin": "admin", "mon": "monitor", "demo": "user"}

# resource/action -> the roles (by tenant) that may do it at all; "demo:limited": only some
# (a user reads its own keypair's policy and the scaling groups it may use; a domain admin
# the scaling groups of its domain).
EXPECTED_TEXT = """
policy        list    superadmin dadmin mon demo:limited
policy        create  superadmin
policy        update  superadmin
policy        delete  superadmin
preset        list    superadmin dadmin mon demo
preset        create  superadmin
preset        update  superadmin
preset        delete  superadmin
scaling-group list    superadmin dadmin:limited mon demo:limited
scaling-group create  superadmin
scaling-group update  superadmin
scaling-group delete  superadmin
agent         list    superadmin mon
agent         read    superadmin mon
agent         update  superadmin
storage       list    superadmin dadmin mon
usage         list    superadmin dadmin mon
"""
EXPECTED = {
    (line.split()[0], line.split()[1]): {
        who.split(":")[0]: [*who.split(":"), "ok"][1] for who in line.split()[2:]
    }
    for line in EXPECTED_TEXT.strip().splitlines()
}

HIDDEN_POLICY = "used-by-nobody"
HIDDEN_SG = "associated-with-nobody"
Probe = Callable[[Tenants, str], Awaitable[str]]


def _outcome(body: dict[str, Any]) -> str:
    errors = body.get("errors")
    if not errors:
        return "ok"
    return str(errors[0].get("extensions", {}).get("code", errors[0]["message"]))


async def _gql(t: Tenants, who: str, query: str, variables: Any = None) -> str:
    return _outcome(await t.gql(who, query, variables))


async def _rest(t: Tenants, who: str, method: str, url: str, body: Any = None) -> str:
    status, answer = await t.call(who, method, url, body)
    if status < 300:
        return "ok"
    return (
        str(answer.get("type", status)).rsplit("/", 1)[-1]
        if isinstance(answer, dict)
        else str(status)
    )


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _as_superadmin(t: Tenants, query: str, variables: Any) -> None:
    assert _outcome(await t.gql("superadmin", query, variables)) == "ok"


POLICY_CREATE = (
    "mutation($name: String!, $input: CreateKeyPairResourcePolicyInput!) {"
    "  create_keypair_resource_policy(name: $name, props: $input) {"
    "    ok msg resource_policy { name }  }}"
)
POLICY_INPUT = {
    "default_for_unspecified": "UNLIMITED", "total_resource_slots": "{}",
    "max_concurrent_sessions": 3, "max_containers_per_session": 1, "max_vfolder_count": 10,
    "max_vfolder_size": 0, "idle_timeout": 1800, "allowed_vfolder_hosts": ["local"],
}  # fmt: skip
SG_CREATE = (
    "mutation($name: String!, $input: CreateScalingGroupInput!) {"
    " create_scaling_group(name: $name, props: $input) { ok msg scaling_group {name} } }"
)
SG_INPUT = {"description": "", "is_active": True, "driver": "static", "driver_opts": "{}",
            "scheduler": "fifo", "scheduler_opts": "{}"}  # fmt: skip
PRESET_CREATE = (
    "mutation($name: String!, $props: CreateResourcePresetInput!) {"
    " create_resource_preset(name: $name, props: $props) { ok msg } }"
)


async def policy_list(t: Tenants, who: str) -> str:
    """``ok``: every policy; ``limited``: only the one of the actor's keypair."""
    body = await t.gql(who, "query { keypair_resource_policies { name } }")
    if _outcome(body) != "ok":
        return _outcome(body)
    names = {p["name"] for p in body["data"]["keypair_resource_policies"]}
    return "ok" if HIDDEN_POLICY in names else ("limited" if names == {"default"} else str(names))


async def policy_create(t: Tenants, who: str) -> str:
    return await _gql(t, who, POLICY_CREATE, {"name": _name("p"), "input": POLICY_INPUT})


async def policy_update(t: Tenants, who: str) -> str:
    name = _name("p")
    await _as_superadmin(t, POLICY_CREATE, {"name": name, "input": POLICY_INPUT})
    q = ("mutation($name: String!, $input: ModifyKeyPairResourcePolicyInput!) {"
         " modify_keypair_resource_policy(name: $name, props: $input) { ok msg } }")  # fmt: skip
    return await _gql(t, who, q, {"name": name, "input": {"max_concurrent_sessions": 5}})


async def policy_delete(t: Tenants, who: str) -> str:
    name = _name("p")
    await _as_superadmin(t, POLICY_CREATE, {"name": name, "input": POLICY_INPUT})
    q = "mutation($name: String!) { delete_keypair_resource_policy(name: $name) { ok msg } }"
    return await _gql(t, who, q, {"name": name})


async def preset_list(t: Tenants, who: str) -> str:
    return await _rest(t, who, "GET", "/resource/presets")


async def preset_create(t: Tenants, who: str) -> str:
    props = {"resource_slots": '{"cpu": "1", "mem": "1g"}'}
    return await _gql(t, who, PRESET_CREATE, {"name": _name("r"), "props": props})


async def preset_update(t: Tenants, who: str) -> str:
    name = _name("r")
    await _as_superadmin(t, PRESET_CREATE, {"name": name, "props": {"resource_slots": "{}"}})
    q = ("mutation($name: String!, $props: ModifyResourcePresetInput!) {"
         " modify_resource_preset(name: $name, props: $props) { ok msg } }")  # fmt: skip
    return await _gql(t, who, q, {"name": name, "props": {"shared_memory": "64m"}})


async def preset_delete(t: Tenants, who: str) -> str:
    name = _name("r")
    await _as_superadmin(t, PRESET_CREATE, {"name": name, "props": {"resource_slots": "{}"}})
    q = "mutation($name: String!) { delete_resource_preset(name: $name) { ok msg } }"
    return await _gql(t, who, q, {"name": name})


async def sg_list(t: Tenants, who: str) -> str:
    """``ok``: every scaling group; ``limited``: those associated with the actor's domain."""
    body = await t.gql(who, "query { scaling_groups { name } }")
    if _outcome(body) != "ok":
        return _outcome(body)
    names = {g["name"] for g in body["data"]["scaling_groups"]}
    return "ok" if HIDDEN_SG in names else ("limited" if "default" in names else str(names))


async def sg_create(t: Tenants, who: str) -> str:
    return await _gql(t, who, SG_CREATE, {"name": _name("sg"), "input": SG_INPUT})


async def sg_update(t: Tenants, who: str) -> str:
    q = ("mutation($scaling_group: String!, $domain: String!) {"
         " associate_scaling_group_with_domain(scaling_group: $scaling_group, domain: $domain)"
         " { ok msg } }")  # fmt: skip
    name = _name("sg")
    await _as_superadmin(t, SG_CREATE, {"name": name, "input": SG_INPUT})
    return await _gql(t, who, q, {"scaling_group": name, "domain": "default"})


async def sg_delete(t: Tenants, who: str) -> str:
    name = _name("sg")
    await _as_superadmin(t, SG_CREATE, {"name": name, "input": SG_INPUT})
    q = "mutation($name: String!) { delete_scaling_group(name: $name) { ok msg } }"
    return await _gql(t, who, q, {"name": name})


async def agent_list(t: Tenants, who: str) -> str:
    q = "query { agent_list(limit: 10, offset: 0, status: null) { items { id } total_count } }"
    return await _gql(t, who, q)


async def agent_read(t: Tenants, who: str) -> str:
    return await _gql(t, who, 'query { agent(agent_id: "nobody") { id } }')


async def agent_update(t: Tenants, who: str) -> str:
    body = {"op": "include-agents", "args": []}
    return await _rest(t, who, "POST", "/manager/scheduler/operation", body)


async def storage_list(t: Tenants, who: str) -> str:
    q = "query { storage_volume_list(limit: 10, offset: 0) { items { id } total_count } }"
    return await _gql(t, who, q)


async def usage_list(t: Tenants, who: str) -> str:
    body = {"month": "202601", "group_ids": [str(t.groups["default/default"])]}
    return await _rest(t, who, "GET", "/resource/usage/month", body)


PROBES: dict[tuple[str, str], Probe] = {
    ("policy", "list"): policy_list, ("policy", "create"): policy_create,
    ("policy", "update"): policy_update, ("policy", "delete"): policy_delete,
    ("preset", "list"): preset_list, ("preset", "create"): preset_create,
    ("preset", "update"): preset_update, ("preset", "delete"): preset_delete,
    ("scaling-group", "list"): sg_list, ("scaling-group", "create"): sg_create,
    ("scaling-group", "update"): sg_update, ("scaling-group", "delete"): sg_delete,
    ("agent", "list"): agent_list, ("agent", "read"): agent_read,
    ("agent", "update"): agent_update, ("storage", "list"): storage_list,
    ("usage", "list"): usage_list,
}  # fmt: skip


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tenants(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Tenants]:
    tmp: Path = tmp_path_factory.mktemp("authz-resources")
    async with running_manager(tmp, scheduler_interval=60.0) as harness:
        tenants = await add_tenants(harness)
        await _as_superadmin(tenants, POLICY_CREATE, {"name": HIDDEN_POLICY, "input": POLICY_INPUT})
        await _as_superadmin(tenants, SG_CREATE, {"name": HIDDEN_SG, "input": SG_INPUT})
        yield tenants


def test_every_resource_row_is_probed() -> None:
    from backendai.manager.authz.table import ROWS

    mine = {(r.value, a.value) for r, a in ROWS if r.value in {k for k, _ in EXPECTED}}
    assert mine == set(EXPECTED) == set(PROBES)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("who", "row"), list(itertools.product(ROLES, sorted(EXPECTED))), ids=str)
async def test_role_reaches_what_its_row_says(
    tenants: Tenants, who: str, row: tuple[str, str]
) -> None:
    outcome = await PROBES[row](tenants, who)
    if who in EXPECTED[row]:
        if row == ("agent", "read"):  # of an unknown id: a reader is told it does not exist
            assert outcome == "generic-not-found", outcome
        else:
            assert outcome == EXPECTED[row][who], outcome
    else:
        assert outcome == "insufficient-privilege", outcome
