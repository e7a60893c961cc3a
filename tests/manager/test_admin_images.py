"""Images through GraphQL as Backend.AI's client 20.9.9 sends it (``admin images``,
``rescan-images``, ``alias-image``, ``dealias-image``), committing a session to a private image
(``POST /session/{name}/commit``) and who may see, use and remove private images."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer

from backendai.common.agent_protocol import LABEL_IMAGE_OWNER, ImageInfo
from backendai.common.statuses import SessionStatus
from backendai.manager.db.models import ConfigEntry, Image, ImageAlias
from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import create_body as client_body
from tests.manager.conftest import wait_status
from tests.manager.fake_agent import PYTHON_LABELS, FakeAgent
from tests.manager.tenants import Tenants, add_tenants

# The exact documents of client 20.9.9 (ai/backend/client/func/image.py).
LIST = (
    "query($is_operation: Boolean) {  images(is_operation: $is_operation) {"
    "    name registry tag digest size_bytes aliases  }}"
)
RESCAN = "mutation($registry: String) {  rescan_images(registry:$registry) {   ok msg task_id  }}"
ALIAS = (
    "mutation($alias: String!, $target: String!) {  alias_image(alias: $alias, target: $target) {"
    "   ok msg  }}"
)
DEALIAS = "mutation($alias: String!) {  dealias_image(alias: $alias) {   ok msg  }}"
OURS = (
    "{ images { name tag registry installed_agents is_private owner owner_group "
    "resource_limits { key min max } labels { key value } } }"
)
DELETE = "mutation($r: String!) { delete_image(reference: $r) { ok msg } }"
FULL = "backendai/python:3.11-debian12"


@pytest.fixture
async def tenants(platform: ManagerHarness, agent: FakeAgent) -> Tenants:
    """Tenants of every role (``tenants.py``), then the fake agent joins."""
    made = await add_tenants(platform)
    assert await agent.send_heartbeat(platform) == 200
    return made


def error_of(body: dict[str, Any]) -> dict[str, Any]:
    assert body["errors"], body
    return dict(body["errors"][0])


async def running(tenants: Tenants, who: str, name: str, image: str = "python") -> dict[str, Any]:
    body = client_body(name, image, domain=tenants[who].domain)
    status, answer = await tenants.call(who, "POST", "/session", body)
    assert status == 201, answer
    await wait_status(tenants.harness, answer["sessionId"], SessionStatus.RUNNING)
    return dict(answer)


async def commit(
    tenants: Tenants, who: str, name: str, owner: str | None = None, **body: Any
) -> tuple[int, Any]:
    query = f"?owner_access_key={tenants[owner].access_key}" if owner else ""
    return await tenants.call(who, "POST", f"/session/{name}/commit{query}", body)


# -- admin images ---------------------------------------------------------------------------


async def test_list_as_the_client_asks(tenants: Tenants) -> None:
    body = await tenants.gql("superadmin", LIST, {"is_operation": False})
    assert body["errors"] is None
    items = body["data"]["images"]
    python = next(i for i in items if i["tag"] == "3.11-debian12")
    # Keys in the order asked: the client builds its table rows from item.values().
    assert list(python) == ["name", "registry", "tag", "digest", "size_bytes", "aliases"]
    assert python["name"] == "backendai/python" and python["registry"] == "local"
    assert "python" in python["aliases"] and "python:3.11-debian12" in python["aliases"]


async def test_list_shows_agents_and_resource_minimums(tenants: Tenants) -> None:
    items = (await tenants.gql("demo", OURS))["data"]["images"]
    python = next(i for i in items if i["tag"] == "3.11-debian12")
    assert python["installed_agents"] == ["agent-1"]
    assert {"key": "cpu", "min": "1", "max": None} in python["resource_limits"]
    assert {"key": "mem", "min": str(256 * 2**20), "max": None} in python["resource_limits"]
    assert python["is_private"] is False and python["owner"] is None
    assert {"key": "ai.backend.kernelspec", "value": "1"} in python["labels"]


async def test_operation_images_only(tenants: Tenants) -> None:
    body = await tenants.gql("superadmin", LIST, {"is_operation": True})
    assert body["data"]["images"] == []


# -- alias-image / dealias-image -----------------------------------------------------------


async def test_alias_then_run_by_the_alias(tenants: Tenants, agent: FakeAgent) -> None:
    body = await tenants.gql("superadmin", ALIAS, {"alias": "myalias", "target": FULL})
    assert body == {"data": {"alias_image": {"ok": True, "msg": f"myalias -> {FULL}"}},
                    "errors": None}  # fmt: skip
    items = (await tenants.gql("superadmin", LIST, {"is_operation": False}))["data"]["images"]
    assert "myalias" in next(i for i in items if i["tag"] == "3.11-debian12")["aliases"]
    await running(tenants, "demo", "by-alias", "myalias")
    assert agent.create_calls[-1].image == FULL


async def test_alias_to_an_unknown_image_names_it_and_writes_nothing(tenants: Tenants) -> None:
    body = await tenants.gql("superadmin", ALIAS, {"alias": "ghost", "target": "no/such:img"})
    err = error_of(body)
    assert err["extensions"]["code"] == "image-not-found"
    assert "no/such:img" in err["message"]
    async with tenants.harness.ctx.db() as db:
        assert await db.get(ImageAlias, "ghost") is None


async def test_alias_may_not_take_an_image_name(tenants: Tenants) -> None:
    err = error_of(await tenants.gql("superadmin", ALIAS, {"alias": FULL, "target": FULL}))
    assert err["extensions"]["code"] == "invalid-api-params"


async def test_dealias(tenants: Tenants) -> None:
    await tenants.gql("superadmin", ALIAS, {"alias": "gone-soon", "target": FULL})
    body = await tenants.gql("superadmin", DEALIAS, {"alias": "gone-soon"})
    assert body["data"]["dealias_image"]["ok"] is True
    async with tenants.harness.ctx.db() as db:
        assert await db.get(ImageAlias, "gone-soon") is None
    err = error_of(await tenants.gql("superadmin", DEALIAS, {"alias": "gone-soon"}))
    assert err["extensions"]["code"] == "generic-not-found" and "gone-soon" in err["message"]


# -- rescan-images -----------------------------------------------------------------------------


async def test_rescan_reads_the_agents_now(tenants: Tenants, agent: FakeAgent) -> None:
    new = ImageInfo(name="backendai/r:1.0", digest="sha256:cc", size_bytes=5,
                    labels={"ai.backend.kernelspec": "1"})  # fmt: skip
    agent.images = [*agent.images, new]
    body = await tenants.gql("superadmin", RESCAN, {"registry": None})
    result = body["data"]["rescan_images"]
    assert result["ok"] is True, result
    uuid.UUID(result["task_id"])
    items = (await tenants.gql("superadmin", OURS))["data"]["images"]
    assert any(i["name"] == "backendai/r" and i["installed_agents"] == ["agent-1"] for i in items)
    # The client then follows the task's events until server_close.
    rel = f"/events/background-task?task_id={result['task_id']}"
    headers = tenants.stream_headers("superadmin", rel)
    async with tenants.harness.client.get(rel, headers=headers) as resp:
        text = await resp.text()
    assert resp.status == 200
    assert "event: task_done" in text and text.rstrip().endswith("data: {}")


async def test_rescan_of_an_unconfigured_registry_names_it(tenants: Tenants) -> None:
    err = error_of(await tenants.gql("superadmin", RESCAN, {"registry": "nowhere.example"}))
    assert "nowhere.example" in err["message"] and "config/docker/registry/" in err["message"]


@pytest.fixture
async def registry() -> AsyncIterator[str]:
    """A Docker registry (HTTP API v2) holding one session image and one other image."""
    labels = {"app": {"ai.backend.kernelspec": "1"}, "tool": {}}

    async def catalog(request: web.Request) -> web.Response:
        return web.json_response({"repositories": ["team/app", "team/tool"]})

    async def tags(request: web.Request) -> web.Response:
        return web.json_response({"tags": ["2.0"]})

    async def manifest(request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        body = {"config": {"digest": f"sha256:{repo}"}, "layers": [{"size": 10}, {"size": 5}]}
        return web.json_response(body)

    async def blob(request: web.Request) -> web.Response:
        return web.json_response({"config": {"Labels": labels[request.match_info["repo"]]}})

    app = web.Application()
    app.router.add_get("/v2/_catalog", catalog)
    app.router.add_get("/v2/team/{repo}/tags/list", tags)
    app.router.add_get("/v2/team/{repo}/manifests/{tag}", manifest)
    app.router.add_get("/v2/team/{repo}/blobs/{digest}", blob)
    server = TestServer(app)
    await server.start_server()
    try:
        yield f"http://{server.host}:{server.port}"
    finally:
        await server.close()


async def test_rescan_a_configured_registry(tenants: Tenants, registry: str) -> None:
    async with tenants.harness.ctx.db() as db, db.begin():
        db.add(ConfigEntry(key="config/docker/registry/reg.example:5000", value=registry))
    body = await tenants.gql("superadmin", RESCAN, {"registry": "reg.example:5000"})
    assert body["data"]["rescan_images"]["ok"] is True, body
    items = (await tenants.gql("superadmin", LIST, {"is_operation": False}))["data"]["images"]
    app = [i for i in items if i["registry"] == "reg.example:5000"]
    assert [(i["name"], i["tag"], i["size_bytes"]) for i in app] == [("team/app", "2.0", 15)]


# -- commit ------------------------------------------------------------------------------------


async def test_commit_makes_a_private_image_of_the_owner(
    tenants: Tenants, agent: FakeAgent
) -> None:
    await running(tenants, "demo", "work1")
    status, body = await commit(tenants, "demo", "work1", image_name="mypy", tag="v1")
    assert status == 201, body
    name = f"private/{tenants['demo'].uuid}/mypy:v1"
    assert body["image"] == name and body["owner"] == "demo@example.com"
    _, req = agent.commit_calls[-1]
    assert req.image == name and req.labels[LABEL_IMAGE_OWNER] == str(tenants["demo"].uuid)
    mine = (await tenants.gql("demo", OURS))["data"]["images"]
    row = next(i for i in mine if i["tag"] == "v1")
    assert row["is_private"] and row["owner"] == "demo@example.com"
    assert row["installed_agents"] == ["agent-1"]
    # The owner runs it; nobody else sees it, nor can use it (told: no such image).
    await running(tenants, "demo", "work2", name)
    assert agent.create_calls[-1].image == name
    theirs = (await tenants.gql("bob", OURS))["data"]["images"]
    assert all(i["tag"] != "v1" for i in theirs)
    status, refused = await tenants.call(
        "bob", "POST", "/session", client_body("steal", name, domain="default")
    )
    assert status == 404 and refused["type"].endswith("image-not-found"), refused
    ghost = f"private/{tenants['demo'].uuid}/never:v1"
    _, unknown = await tenants.call(
        "bob", "POST", "/session", client_body("steal", ghost, domain="default")
    )
    assert json.dumps(refused).replace(name, ghost) == json.dumps(unknown)  # reads alike
    # A heartbeat reporting the image keeps it private.
    assert await agent.send_heartbeat(tenants.harness) == 200
    assert all(i["tag"] != "v1" for i in (await tenants.gql("bob", OURS))["data"]["images"])


async def test_an_admin_commits_a_users_session_for_that_user(tenants: Tenants) -> None:
    await running(tenants, "demo", "asked")
    status, body = await commit(tenants, "superadmin", "asked", owner="demo", tag="for-demo")
    assert status == 201, body
    assert body["image"].startswith(f"private/{tenants['demo'].uuid}/python:")
    assert body["owner"] == "demo@example.com"
    listed = (await tenants.gql("superadmin", OURS))["data"]["images"]
    assert any(i["tag"] == "for-demo" and i["owner"] == "demo@example.com" for i in listed)


async def test_shared_with_the_group(tenants: Tenants) -> None:
    await running(tenants, "demo", "team")
    status, body = await commit(tenants, "demo", "team", tag="shared", share_with_group=True)
    assert status == 201 and body["group"] == "default", body
    assert any(i["tag"] == "shared" for i in (await tenants.gql("bob", OURS))["data"]["images"])
    await running(tenants, "bob", "bobs", body["image"])


async def test_commit_refuses_bad_names_and_sessions_not_running(tenants: Tenants) -> None:
    await running(tenants, "demo", "names")
    status, body = await commit(tenants, "demo", "names", image_name="../../backendai/python")
    assert status == 400, body
    status, body = await commit(tenants, "demo", "names", tag="bad tag")
    assert status == 400, body
    status, body = await commit(tenants, "demo", "no-such-session")
    assert status == 404, body


async def test_users_cannot_commit_others_sessions(tenants: Tenants) -> None:
    await running(tenants, "demo", "private-work")
    status, body = await commit(tenants, "bob", "private-work", owner="demo")
    assert status == 403, body


async def test_delete_a_private_image(tenants: Tenants, agent: FakeAgent) -> None:
    await running(tenants, "demo", "deleteme")
    _, made = await commit(tenants, "demo", "deleteme", tag="del")
    err = error_of(await tenants.gql("bob", DELETE, {"r": made["image"]}))
    assert err["extensions"]["code"] == "image-not-found"
    body = await tenants.gql("demo", DELETE, {"r": made["image"]})
    assert body["data"]["delete_image"]["ok"] is True, body
    assert agent.removed_images == [made["image"]]
    async with tenants.harness.ctx.db() as db:
        assert await db.scalar(sa.select(Image).where(Image.name == made["image"])) is None
    err = error_of(await tenants.gql("superadmin", DELETE, {"r": FULL}))
    assert "public image" in err["message"]


async def test_heartbeat_never_makes_a_private_name_public(
    tenants: Tenants, agent: FakeAgent
) -> None:
    other = uuid.uuid4()
    agent.images = [
        *agent.images,
        ImageInfo(name=f"private/{other}/x:1", digest="d", size_bytes=1, labels=PYTHON_LABELS),
        ImageInfo(name="backendai/owned:1", digest="d", size_bytes=1,
                  labels=PYTHON_LABELS | {LABEL_IMAGE_OWNER: str(other)}),
    ]  # fmt: skip
    assert await agent.send_heartbeat(tenants.harness) == 200
    async with tenants.harness.ctx.db() as db:
        assert await db.scalar(sa.select(Image).where(Image.name == f"private/{other}/x:1")) is None
        owned = await db.scalar(sa.select(Image).where(Image.name == "backendai/owned:1"))
        assert owned is not None and owned.owner_user == other
        # No default alias ("owned", "owned:1") points at a private image.
        assert await db.get(ImageAlias, "owned") is None
