"""``POST /session/_/create-from-template`` (``start-template``) against the fake agent: the
template's image, environment, resources, mounts and git clone reach the agent; the request's
values override them; client 20.9.9's ``"Undefined.token"`` and ``mounts: []`` mean "not
given"."""

from __future__ import annotations

from typing import Any

import pytest

from backendai.common.agent_protocol import KernelCreateRequest
from tests.fixtures.platform import ManagerHarness
from tests.manager.fake_agent import FakeAgent, GiB
from tests.manager.tenants import IMAGE, Tenants, add_tenants
from tests.manager.test_session_templates import PROBS, SEED, make
from tests.manager.test_vfolder_mounts import folder

UNDEFINED = "Undefined.token"


@pytest.fixture
async def w(platform: ManagerHarness, agent: FakeAgent) -> Tenants:
    tenants = await add_tenants(platform)
    assert await agent.send_heartbeat(platform) == 200
    for name in ("tpl-data", "tpl-other", "extra"):
        await folder(platform, name)
    return tenants


def official(template_id: str, name: str, **extra: Any) -> dict[str, Any]:
    """The body client 20.9.9 sends for ``start-template ID -t NAME`` (API_CONTRACT §2.11)."""
    config = {"mounts": []} | extra.pop("config", {})
    return {
        "template_id": template_id, "image": UNDEFINED, "domain": None, "group": None,
        "name": name, "enqueueOnly": False, "reuseIfExists": True, "startupCommand": UNDEFINED,
        "owner_access_key": UNDEFINED, "starts_at": None, "config": config,
    } | extra  # fmt: skip


async def start(
    w: Tenants, agent: FakeAgent, who: str, body: dict[str, Any]
) -> KernelCreateRequest:
    before = len(agent.create_calls)
    status, answer = await w.call(who, "POST", "/session/_/create-from-template", body)
    assert status == 201, answer
    assert answer["status"] == "RUNNING" and answer["sessionName"] == body["name"]
    assert answer["sessionId"]
    assert len(agent.create_calls) == before + 1
    return agent.create_calls[-1]


async def test_the_templates_values_reach_the_agent(w: Tenants, agent: FakeAgent) -> None:
    tid = await make(w, "demo")
    call = await start(w, agent, "demo", official(tid, "from-tpl"))
    assert call.image == IMAGE
    assert call.environ["MYCONFIG"] == "XXX"
    assert call.slots == {"cpu": "2", "mem": str(GiB)}
    assert call.startup_command == "python -c 'print(1)'"
    paths = {v.name: v.container_path for v in call.vfolders}
    assert paths["tpl-data"] == "/home/work/hostDesktop"
    assert paths["tpl-other"] == "/home/work/tpl-other"
    script = call.bootstrap_script or ""
    assert "clone --quiet --branch 19.09 -- https://example.com/lablup/backend.ai-agent " \
           "/home/work/baiagent" in script  # fmt: skip
    assert "checkout --quiet 10daee9e328876d75e6d0fa4998d4456711730db" in script
    assert "s3cret" not in script


async def test_explicit_values_override_the_template(w: Tenants, agent: FakeAgent) -> None:
    tid = await make(w, "demo")
    body = official(tid, "override", image="backendai/python:3.11-debian12",
                    startupCommand="echo hi", tag="mine",
                    config={"mounts": ["extra"], "mount_map": {"extra": "/home/work/e"},
                            "environ": {"MYCONFIG": "YYY", "MORE": "1"},
                            "resources": {"cpu": "1"}})  # fmt: skip
    call = await start(w, agent, "demo", body)
    assert call.environ["MYCONFIG"] == "YYY" and call.environ["MORE"] == "1"
    assert call.slots == {"cpu": "1", "mem": str(GiB)}  # mem still the template's
    assert call.startup_command == "echo hi"
    names = {v.name for v in call.vfolders}
    assert "extra" in names and "tpl-data" not in names and "tpl-other" not in names


async def test_no_env_no_resource_no_mount_blank_the_template(w: Tenants, agent: FakeAgent) -> None:
    tid = await make(w, "demo")
    blank: dict[str, Any] = {"mounts": [], "mount_map": {}, "environ": {}, "resources": {}}
    body = official(tid, "blanked", config=blank)
    call = await start(w, agent, "demo", body)
    assert "MYCONFIG" not in call.environ
    assert call.slots["cpu"] == "1"  # the default, not the template's 2
    assert not {"tpl-data", "tpl-other"} & {v.name for v in call.vfolders}


async def test_a_shared_template_starts_for_a_group_member(w: Tenants, agent: FakeAgent) -> None:
    tid = await make(w, "demo", group="default")
    no_mount: dict[str, Any] = {"mounts": [], "mount_map": {}}  # bob may not mount demo's folders
    call = await start(w, agent, "bob", official(tid, "bobs-run", config=no_mount))
    assert call.environ["MYCONFIG"] == "XXX" and call.image == IMAGE


async def test_the_template_group_is_the_default_group(w: Tenants, agent: FakeAgent) -> None:
    no_mounts = SEED.replace(
        "  mounts:\n    tpl-data: /home/work/hostDesktop\n    tpl-other:\n", ""
    )
    tid = await make(w, "bob", no_mounts, group="dteam")
    status, answer = await w.call(
        "bob", "POST", "/session/_/create-from-template", official(tid, "team-run")
    )
    assert status == 201, answer
    status, info = await w.call("bob", "GET", "/session/team-run")
    assert info["groupId"] == str(w.groups["default/dteam"])


async def test_bad_overrides_are_refused_and_nothing_starts(w: Tenants, agent: FakeAgent) -> None:
    tid = await make(w, "demo")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"image": "nosuch"}, "nosuch"),
        ({"config": {"mounts": [], "environ": {"1X": "y"}}}, "invalid environment variable"),
        ({"name": "x"}, "Invalid session name"),
    ]
    for extra, message in cases:
        body = official(tid, "refused-1") | extra
        status, answer = await w.call("demo", "POST", "/session/_/create-from-template", body)
        assert 400 <= status < 500 and message in answer.get("msg", ""), answer
    status, answer = await w.call("demo", "POST", "/session/_/create-from-template", {"name": "n"})
    assert (status, answer["type"]) == (400, PROBS + "invalid-api-params")
    assert "template_id" in answer["msg"]
    assert agent.create_calls == []
