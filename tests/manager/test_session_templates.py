"""``/template/session``: create, list, get (YAML and JSON), update and delete as client 20.9.9
sends them; bad templates refused with the path of the bad field and nothing stored; who
reaches a template (its owner, its group's members, admins) and who is told it does not exist.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from backendai.manager.db.models import SessionTemplate
from tests.fixtures.platform import ManagerHarness, running_manager
from tests.manager.tenants import IMAGE, Tenants, add_tenants
from tests.manager.test_vfolder_mounts import folder

PROBS = "https://api.backend.ai/probs/"

SEED = """\
---
api_version: v1
kind: taskTemplate
metadata:
  name: template1234
  tag: example-tag
spec:
  kernel:
    environ:
      MYCONFIG: XXX
    git:
      branch: '19.09'
      commit: 10daee9e328876d75e6d0fa4998d4456711730db
      repository: https://example.com/lablup/backend.ai-agent
      destinationDir: /home/work/baiagent
      credential: {username: me, password: s3cret}
    image: IMAGE
    run:
      startupCommand: python -c 'print(1)'
  resources:
    cpu: '2'
    mem: 1g
  mounts:
    tpl-data: /home/work/hostDesktop
    tpl-other:
  sessionType: interactive
""".replace("IMAGE", IMAGE)

NORMALIZED = {
    "api_version": "v1",
    "kind": "taskTemplate",
    "metadata": {"name": "template1234", "tag": "example-tag"},
    "spec": {
        "session_type": "interactive",
        "kernel": {
            "image": IMAGE,
            "environ": {"MYCONFIG": "XXX"},
            "run": {"startup_command": "python -c 'print(1)'"},
            "git": {
                "repository": "https://example.com/lablup/backend.ai-agent",
                "branch": "19.09",
                "commit": "10daee9e328876d75e6d0fa4998d4456711730db",
                "credential": {"username": "me", "password": "s3cret"},
                "destination_dir": "/home/work/baiagent",
            },
        },
        "resources": {"cpu": "2", "mem": "1g"},
        "mounts": {"tpl-data": "/home/work/hostDesktop", "tpl-other": None},
    },
}


@pytest.fixture
async def w(platform: ManagerHarness) -> Tenants:
    tenants = await add_tenants(platform)
    await folder(platform, "tpl-data")
    await folder(platform, "tpl-other")
    return tenants


def body(payload: str, group: str | None = None, **extra: Any) -> dict[str, Any]:
    """``sesstpl create`` as client 20.9.9 sends it."""
    return {"payload": payload, "group_name": group, "domain_name": "default",
            "owner_access_key": None} | extra  # fmt: skip


async def make(w: Tenants, who: str, payload: str = SEED, **extra: Any) -> str:
    status, answer = await w.call(who, "POST", "/template/session", body(payload, **extra))
    assert status == 200, answer
    assert re.fullmatch(r"[0-9a-f]{32}", answer["id"])
    assert answer["user"] == w[who if "owner_access_key" not in extra else "demo"].uuid.hex
    return str(answer["id"])


async def stored(w: Tenants) -> int:
    async with w.harness.ctx.db() as db:
        query = sa.select(sa.func.count()).select_from(SessionTemplate)
        return int(await db.scalar(query.where(SessionTemplate.is_active.is_(True))) or 0)


def problem(answer: Any) -> str:
    return str(answer.get("type", "")).removeprefix(PROBS) if isinstance(answer, dict) else ""


async def test_create_list_get_update_delete(w: Tenants) -> None:
    tid = await make(w, "demo")
    status, items = await w.call("demo", "GET", "/template/session", {"all": False})
    assert status == 200
    [item] = items
    assert item["id"] == tid and item["name"] == "template1234" and item["is_owner"] is True
    assert item["user"] == str(w["demo"].uuid) and item["user_email"] == w["demo"].email
    assert item["group"] is None and item["type"] == "TASK" and item["created_at"]

    resp = await w.harness.signed("GET", f"/template/session/{tid}?format=yaml")
    assert resp.status == 200 and resp.content_type == "text/yaml"
    assert yaml.safe_load(await resp.text()) == NORMALIZED
    resp = await w.harness.signed("GET", f"/template/session/{tid}?format=json")
    assert resp.status == 200 and resp.content_type == "application/json"
    assert json.loads(await resp.text()) == NORMALIZED

    renamed = SEED.replace("template1234", "renamed").replace("sessionType: interactive",
                                                              "type: batch")  # fmt: skip
    status, answer = await w.call("demo", "PUT", f"/template/session/{tid}", {"payload": renamed})
    assert (status, answer) == (200, {"success": True})
    status, doc = await w.call("demo", "GET", f"/template/session/{tid}?format=json")
    assert doc["metadata"]["name"] == "renamed" and doc["spec"]["session_type"] == "batch"
    status, items = await w.call("demo", "GET", "/template/session", {"all": False})
    assert [i["name"] for i in items] == ["renamed"]

    status, answer = await w.call("demo", "DELETE", f"/template/session/{tid}")
    assert (status, answer) == (200, {"success": True})
    status, answer = await w.call("demo", "GET", f"/template/session/{tid}")
    assert (status, problem(answer)) == (404, "task-template-not-found")
    assert (await w.call("demo", "GET", "/template/session", {"all": False}))[1] == []
    assert await stored(w) == 0


async def test_other_spellings_and_json_payload_normalize_alike(w: Tenants) -> None:
    doc = yaml.safe_load(SEED)
    doc["apiVersion"] = doc.pop("api_version")
    doc["kind"] = "task_template"
    doc["spec"]["type"] = doc["spec"].pop("sessionType")
    doc["spec"]["kernel"]["run"] = {"startup": "python -c 'print(1)'"}
    git = doc["spec"]["kernel"]["git"]
    git["destination_dir"] = git.pop("destinationDir")
    tid = await make(w, "demo", json.dumps(doc))
    status, got = await w.call("demo", "GET", f"/template/session/{tid}?format=json")
    assert (status, got) == (200, NORMALIZED)


BAD: list[tuple[str, str]] = [
    (SEED.replace("kind: taskTemplate\n", ""), "kind: field required"),
    (SEED.replace("kind: taskTemplate", "kind: other"), "kind: Input should be"),
    (SEED.replace("    image:", "    imagee:"), "spec.kernel.imagee: unknown key"),
    (SEED.replace(f"image: {IMAGE}", "image: nosuch"), "spec.kernel.image: unknown image 'nosuch'"),
    (SEED.replace("tpl-other:", "nofolder:"), "spec.mounts.nofolder: "),
    (SEED.replace("/home/work/hostDesktop", "/etc/x"),
     "spec.mounts.tpl-data: '/etc/x' is not a path under /home/work/"),
    (SEED.replace("destinationDir: /home/work/baiagent", "destinationDir: /tmp/x"),
     "spec.kernel.git.destinationDir: '/tmp/x' is not a path under /home/work/"),
    (SEED.replace("branch: '19.09'", "branch: --upload-pack=touch /tmp/x"),
     "spec.kernel.git.branch: '--upload-pack=touch /tmp/x' may not start with '-'"),
    (SEED.replace("MYCONFIG", "1BAD"), "spec.kernel.environ: invalid environment variable"),
    (SEED.replace("  tag: example-tag\n", "  tag: example-tag\n  extra: 1\n"),
     "metadata.extra: unknown key"),
    (SEED.replace("cpu: '2'", "gpu: '1'"), "spec.resources: Unknown resource slot gpu"),
    ("- a\n- b\n", "must be a mapping"),
    ("key: [unclosed\n", "neither valid YAML nor JSON"),
    ("{not json", "neither valid YAML nor JSON"),
    ("", "The template is empty"),
    ("a: &x [1]\nb: *x\n", "YAML alias"),
    ("a: " + "[" * 5000 + "]" * 5000, "nested too deeply"),
    ('{"a": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    (SEED + "#" + "x" * 70000 + "\n", "larger than 64 KiB"),
]  # fmt: skip


async def test_bad_templates_are_refused_at_create_and_update(w: Tenants) -> None:
    """Every case on one manager (a manager per case took a minute of the suite)."""
    tid = await make(w, "demo")
    for payload, message in BAD:
        status, answer = await w.call("demo", "POST", "/template/session", body(payload))
        assert (status, problem(answer)) == (400, "invalid-api-params"), (message, answer)
        assert message in answer["msg"], answer
        assert await stored(w) == 1, message  # only the good one made above
        path = f"/template/session/{tid}"
        status, answer = await w.call("demo", "PUT", path, {"payload": payload})
        assert (status, problem(answer)) == (400, "invalid-api-params"), (message, answer)
        assert message in answer["msg"]
        status, doc = await w.call("demo", "GET", f"{path}?format=json")
        assert doc == NORMALIZED, message  # unchanged


async def test_a_folder_the_owner_cannot_use_is_refused(w: Tenants) -> None:
    await folder(w.harness, "bobs-folder", owner="bob@example.com")
    payload = SEED.replace("tpl-other:", "bobs-folder:")
    status, answer = await w.call("demo", "POST", "/template/session", body(payload))
    assert (status, problem(answer)) == (400, "invalid-api-params")
    assert "spec.mounts.bobs-folder: " in answer["msg"]
    assert await stored(w) == 0


ROUTES = [
    ("GET", "?format=yaml", None),
    ("GET", "?format=json", None),
    ("PUT", "", {"payload": SEED}),
    ("DELETE", "", None),
]


async def _is_missing(w: Tenants, who: str, tid: str) -> None:
    """Every route answers ``who`` about ``tid`` exactly as about an id that never existed."""
    for method, query, payload in ROUTES:
        for ref in (tid, "0" * 32):
            status, answer = await w.call(who, method, f"/template/session/{ref}{query}", payload)
            assert (status, problem(answer)) == (404, "task-template-not-found"), (method, who)
            assert answer["msg"] == f"No session template {ref!r}."
    for ref in (tid, "0" * 32):
        status, answer = await w.call(
            who, "POST", "/session/_/create-from-template", {"template_id": ref, "name": "xx-1"}
        )
        assert (status, problem(answer)) == (404, "task-template-not-found"), who


async def test_a_private_template_is_missing_for_everyone_else(w: Tenants) -> None:
    tid = await make(w, "demo")
    for who in ("bob", "carol", "oadmin", "mon"):
        await _is_missing(w, who, tid)
        status, items = await w.call(who, "GET", "/template/session", {"all": True})
        assert status == 200 and tid not in [i["id"] for i in items]
    status, doc = await w.call("demo", "GET", f"/template/session/{tid}?format=json")
    assert doc == NORMALIZED  # the attempts changed nothing
    assert await stored(w) == 1


async def test_group_members_list_get_and_start_but_do_not_change(w: Tenants) -> None:
    tid = await make(w, "demo", group="default")
    status, items = await w.call("bob", "GET", "/template/session", {"all": False})
    [item] = items
    assert item["id"] == tid and item["is_owner"] is False and item["group_name"] == "default"
    status, doc = await w.call("bob", "GET", f"/template/session/{tid}?format=json")
    assert status == 200
    assert doc["spec"]["kernel"]["git"]["credential"] == {"username": "me", "password": "********"}
    for method, payload in (("PUT", {"payload": SEED}), ("DELETE", None)):
        status, answer = await w.call("bob", method, f"/template/session/{tid}", payload)
        assert (status, problem(answer)) == (403, "insufficient-privilege"), answer
    await _is_missing(w, "carol", tid)  # another domain's default group is another group
    status, doc = await w.call("demo", "GET", f"/template/session/{tid}?format=json")
    assert doc == NORMALIZED


async def test_a_group_the_owner_is_not_in_is_refused(w: Tenants) -> None:
    status, answer = await w.call("demo", "POST", "/template/session", body(SEED, group="dteam"))
    assert (status, problem(answer)) == (403, "insufficient-privilege"), answer
    status, answer = await w.call("demo", "POST", "/template/session", body(SEED, group="nosuch"))
    assert (status, problem(answer)) == (404, "group-not-found"), answer
    assert await stored(w) == 0


async def test_admins_act_for_others(w: Tenants) -> None:
    demo_ak = w["demo"].access_key
    tid = await make(w, "superadmin", owner_access_key=demo_ak)
    status, items = await w.call("demo", "GET", "/template/session", {"all": False})
    assert [(i["id"], i["is_owner"]) for i in items] == [(tid, True)]
    # A domain admin reaches its domain's users' templates; listing them needs --all.
    status, items = await w.call("dadmin", "GET", "/template/session", {"all": False})
    assert items == []
    status, items = await w.call("dadmin", "GET", "/template/session", {"all": True})
    assert [i["id"] for i in items] == [tid]
    status, doc = await w.call("dadmin", "GET", f"/template/session/{tid}?format=json")
    assert doc == NORMALIZED  # the password too: an admin may change the template
    url = f"/template/session/{tid}?owner_access_key={demo_ak}"
    status, answer = await w.call("dadmin", "PUT", url, {"payload": SEED})
    assert status == 200, answer
    # A user may not act for another user.
    status, answer = await w.call(
        "bob", "POST", "/template/session", body(SEED, owner_access_key=demo_ak)
    )
    assert status in (403, 404) and problem(answer) != "invalid-api-params"
    assert await stored(w) == 1
    status, answer = await w.call("dadmin", "DELETE", f"/template/session/{tid}")
    assert (status, answer) == (200, {"success": True})
    assert await stored(w) == 0


async def test_bad_format_and_non_string_payload(w: Tenants) -> None:
    tid = await make(w, "demo")
    status, answer = await w.call("demo", "GET", f"/template/session/{tid}?format=xml")
    assert (status, problem(answer)) == (400, "invalid-api-params")
    assert "use yaml or json" in answer["msg"]
    status, answer = await w.call("demo", "POST", "/template/session", {"payload": {"a": 1}})
    assert (status, problem(answer)) == (400, "invalid-api-params")
    assert "payload" in answer["msg"]


async def test_the_main_flow_on_each_engine(db_url: str, tmp_path: Path) -> None:
    async with running_manager(tmp_path, db_url) as harness:
        e = await add_tenants(harness)
        await folder(harness, "tpl-data")
        await folder(harness, "tpl-other")
        tid = await make(e, "demo", group="default")
        mine = await make(e, "bob", SEED.split("  mounts:")[0] + "  sessionType: batch\n")
        status, items = await e.call("bob", "GET", "/template/session", {"all": False})
        assert sorted(i["id"] for i in items) == sorted([tid, mine])
        status, items = await e.call("demo", "GET", "/template/session", {"all": False})
        assert [i["id"] for i in items] == [tid]
        status, doc = await e.call("demo", "GET", f"/template/session/{tid}?format=json")
        assert doc == NORMALIZED
        await _is_missing(e, "demo", mine)
        status, answer = await e.call("demo", "DELETE", f"/template/session/{tid}")
        assert (status, answer) == (200, {"success": True})
        assert await stored(e) == 1
