"""Our ``session-template``/``sesstpl`` commands and ``start-template`` against the fake
server: what each sends (the wire shapes of API_CONTRACT §7 and §2.11), what it prints, and
that it exits 1 with the server's reason when refused."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.client.conftest import run_cli
from tests.client.fake_server import FakeBackend, ServerThread, problem

TID = "740730e2e3e04e5f8edd68cf0c1069d8"
TEMPLATE = (
    "api_version: v1\nkind: taskTemplate\nmetadata: {name: t1}\nspec:\n  kernel: {image: python}\n"
)


class FakeTemplates:
    """Template routes that answer like our manager; ``refuse`` makes the next call a 400."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.refuse: str | None = None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/template/session", self._create)
        app.router.add_get("/template/session", self._list)
        app.router.add_get("/template/session/{id}", self._get)
        app.router.add_put("/template/session/{id}", self._update)
        app.router.add_delete("/template/session/{id}", self._delete)
        app.router.add_post("/session/_/create-from-template", self._start)

    def _refused(self) -> web.Response | None:
        if self.refuse is None:
            return None
        msg, self.refuse = self.refuse, None
        return problem(400, "invalid-api-params", "Missing or invalid API parameters.", msg)

    def _missing(self, request: web.Request) -> web.Response | None:
        if request.match_info["id"] in self.items:
            return None
        return problem(404, "task-template-not-found", "No such session template.", "No such.")

    async def _create(self, request: web.Request) -> web.Response:
        if refused := self._refused():
            return refused
        body = await request.json()
        self.items[TID] = {"name": "t1", "id": TID, "created_at": "2026-01-02T03:04:05+00:00",
                           "is_owner": True, "user": str(uuid.UUID(int=1)), "group": None,
                           "user_email": "user@example.com", "group_name": body["group_name"],
                           "type": "TASK", "payload": body["payload"]}  # fmt: skip
        return web.json_response({"id": TID, "user": uuid.UUID(int=1).hex})

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response(
            [{k: v for k, v in i.items() if k != "payload"} for i in self.items.values()]
        )

    async def _get(self, request: web.Request) -> web.Response:
        if missing := self._missing(request):
            return missing
        if request.query.get("format") == "json":
            return web.json_response({"kind": "taskTemplate"})
        return web.Response(text="kind: taskTemplate\n", content_type="text/yaml")

    async def _update(self, request: web.Request) -> web.Response:
        if (missing := self._missing(request)) or (missing := self._refused()):
            return missing
        self.items[request.match_info["id"]]["payload"] = (await request.json())["payload"]
        return web.json_response({"success": True})

    async def _delete(self, request: web.Request) -> web.Response:
        if missing := self._missing(request):
            return missing
        del self.items[request.match_info["id"]]
        return web.json_response({"success": True})

    async def _start(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body["template_id"] not in self.items:
            return problem(404, "task-template-not-found", "No such session template.")
        status = "ERROR" if body.get("name") == "will-fail" else "RUNNING"
        answer: dict[str, Any] = {
            "sessionId": str(uuid.UUID(int=7)), "sessionName": body.get("name") or "pysdk-1",
            "status": status, "created": True,
            "servicePorts": [{"name": "ttyd", "protocol": "http", "ports": [7681]}],
        }  # fmt: skip
        if status == "ERROR":
            error = {"reason": "bootstrap-failed", "message": "fatal: repository not found"}
            answer["statusData"] = {"error": error}
        return web.json_response(answer, status=201)


@pytest.fixture
def templates() -> FakeTemplates:
    return FakeTemplates()


@pytest.fixture
def server(backend: FakeBackend, templates: FakeTemplates) -> Iterator[str]:
    app = backend.app()
    templates.add_routes(app)
    thread = ServerThread(app).start()
    yield thread.url
    thread.stop()


def sent(backend: FakeBackend, method: str, prefix: str) -> list[Any]:
    return [r.json() if r.body else None for r in backend.requests
            if r.method == method and r.path.startswith(prefix)]  # fmt: skip


def test_create_from_file_and_stdin(api_mode: str, backend: FakeBackend, tmp_path: Path) -> None:
    path = tmp_path / "tpl.yaml"
    path.write_text(TEMPLATE)
    result = run_cli("sesstpl", "create", "-f", str(path), "-g", "team")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{TID}\n"
    assert result.stderr == f"\u2219 Task template {TID} created and ready\n"
    result = run_cli("session-template", "create", "-o", "AKOTHER", input=TEMPLATE)
    assert result.exit_code == 0, result.output
    first, second = sent(backend, "POST", "/template/session")
    assert first == {"payload": TEMPLATE, "domain_name": None, "group_name": "team",
                     "owner_access_key": None}  # fmt: skip
    assert second["payload"] == TEMPLATE and second["group_name"] is None
    assert second["owner_access_key"] == "AKOTHER"


def test_create_refused_exits_1_with_the_reason(api_mode: str, templates: FakeTemplates) -> None:
    templates.refuse = "Invalid session template: kind: field required"
    result = run_cli("sesstpl", "create", input="spec: {}\n")
    assert result.exit_code == 1
    assert "400 Bad Request" in result.stderr
    assert "kind: field required" in result.stderr
    missing = run_cli("sesstpl", "create", "-f", "/nonexistent/tpl.yaml")
    assert missing.exit_code == 1 and "Cannot read the template file" in missing.stderr


def test_list_get_update_delete(api_mode: str, backend: FakeBackend) -> None:
    empty = run_cli("sesstpl", "list")
    assert empty.exit_code == 0 and empty.stdout == "There is no task templates created yet.\n"
    assert run_cli("sesstpl", "create", input=TEMPLATE).exit_code == 0
    listed = run_cli("sesstpl", "list", "-a")
    header, _, row = listed.stdout.splitlines()
    assert header.split() == ["Name", "ID", "Created", "At", "Owner", "Type", "User", "Group"]
    assert row.split() == ["t1", TID, "2026-01-02T03:04:05+00:00", "yes", "TASK",
                           "user@example.com"]  # fmt: skip
    assert sent(backend, "GET", "/template/session")[-1] == {"all": True}

    got = run_cli("sesstpl", "get", TID)
    assert (got.exit_code, got.stdout) == (0, "kind: taskTemplate\n")
    got = run_cli("sesstpl", "get", TID, "-f", "json", "-o", "AKOTHER")
    assert json.loads(got.stdout) == {"kind": "taskTemplate"}
    assert any(r.path == f"/template/session/{TID}?format=json&owner_access_key=AKOTHER"
               for r in backend.requests)  # fmt: skip

    updated = run_cli("sesstpl", "update", TID, input=TEMPLATE + "# v2\n")
    assert updated.exit_code == 0 and updated.stderr == f"\u2219 Task template {TID} updated\n"
    assert sent(backend, "PUT", "/template/session/")[-1] == {"payload": TEMPLATE + "# v2\n"}

    kept = run_cli("sesstpl", "delete", TID, input="n\n")
    assert kept.exit_code == 0 and "Are you sure? (y/[n])" in kept.stderr
    assert sent(backend, "DELETE", "/template/session/") == []
    gone = run_cli("sesstpl", "delete", TID, "-f")
    assert gone.exit_code == 0 and gone.stderr == f"\u2219 Task template {TID} deleted\n"
    again = run_cli("sesstpl", "delete", TID, input="y\n")
    assert again.exit_code == 1 and "404 Not Found" in again.stderr
    assert "No such session template." in again.stderr
    for args in (("get", TID), ("update", TID)):
        result = run_cli("sesstpl", *args, input=TEMPLATE)
        assert result.exit_code == 1 and "404 Not Found" in result.stderr


def test_start_template_sends_only_what_is_given(api_mode: str, backend: FakeBackend) -> None:
    assert run_cli("sesstpl", "create", input=TEMPLATE).exit_code == 0
    result = run_cli("start-template", TID, "-t", "tpl-run")
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"\u2219 Session tpl-run ({uuid.UUID(int=7)}) is created and ready.\n"
        "\u2219 This session provides the following app services: ttyd\n"
    )
    body = sent(backend, "POST", "/session/_/create-from-template")[-1]
    assert body == {"template_id": TID, "name": "tpl-run", "image": None, "domain": None,
                    "group": None, "enqueueOnly": False, "reuseIfExists": True,
                    "startupCommand": None, "owner_access_key": None, "starts_at": None,
                    "config": {"mounts": []}}  # fmt: skip

    result = run_cli(
        "start-template", TID, "-t", "tpl-run2", "-i", "python:3.11", "-c", "echo hi",
        "--type", "batch", "-e", "A=1", "-r", "cpu=2", "-m", "data=/home/work/d",
        "--resource-opts", "shmem=64m", "--tag", "t", "--cluster-size", "1", "--max-wait", "5",
        "--no-reuse", "--enqueue-only", "-o", "AKOTHER", "-d", "default", "-g", "team",
        "--scaling-group", "sg", "--starts-at", "1h",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = sent(backend, "POST", "/session/_/create-from-template")[-1]
    assert body["config"] == {"mounts": ["data"], "mount_map": {"data": "/home/work/d"},
                              "environ": {"A": "1"}, "resources": {"cpu": "2"},
                              "resource_opts": {"shmem": "64m"}, "scalingGroup": "sg"}  # fmt: skip
    assert (body["image"], body["startupCommand"], body["type"], body["tag"]) == (
        "python:3.11", "echo hi", "batch", "t")  # fmt: skip
    assert (body["enqueueOnly"], body["reuseIfExists"], body["maxWaitSeconds"]) == (True, False, 5)
    assert (body["owner_access_key"], body["domain"], body["group"]) == ("AKOTHER", "default",
                                                                        "team")  # fmt: skip
    assert body["starts_at"] == "1h" and body["clusterSize"] == 1

    result = run_cli("start-template", TID, "-t", "blank", "--no-env", "--no-resource",
                     "--no-mount")  # fmt: skip
    body = sent(backend, "POST", "/session/_/create-from-template")[-1]
    assert body["config"] == {"mounts": [], "mount_map": {}, "environ": {}, "resources": {}}


def test_start_template_failures_exit_1(api_mode: str) -> None:
    result = run_cli("start-template", "0" * 32, "-t", "nothing")
    assert result.exit_code == 1 and "No such session template." in result.stderr
    assert run_cli("sesstpl", "create", input=TEMPLATE).exit_code == 0
    failed = run_cli("start-template", TID, "-t", "will-fail")
    assert failed.exit_code == 1
    assert "has an error during scheduling/startup" in failed.stderr
    assert "fatal: repository not found" in failed.stderr


@pytest.mark.parametrize(
    "args",
    [("sesstpl",), ("sesstpl", "create"), ("sesstpl", "list"), ("sesstpl", "get"),
     ("sesstpl", "update"), ("sesstpl", "delete"), ("session-template",), ("start-template",)],
)  # fmt: skip
def test_help(args: tuple[str, ...]) -> None:
    result = run_cli(*args, "--help")
    assert result.exit_code == 0 and result.stdout.startswith("Usage: ")
