"""``ps``, ``admin sessions``, ``admin session`` and ``info``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.client.conftest import run_cli
from tests.client.fake_server import FakeBackend

SESSION = {
    "name": "mysess",
    "session_id": "1d0e196f-dbd7-4c3b-a116-2969d0a16ff7",
    "group_name": "default",
    "id": "2de2b969-1d04-48a6-af16-0bc8adb3c831",
    "image": "cr.backend.ai/stable/python:3.9-ubuntu20.04",
    "type": "INTERACTIVE",
    "status": "RUNNING",
    "status_info": None,
    "status_changed": "2021-09-01T12:00:05+00:00",
    "result": "UNDEFINED",
}
ACTIVE = (
    "PENDING,SCHEDULED,PREPARING,PULLING,RUNNING,RESTARTING,TERMINATING,RESIZING,SUSPENDED,ERROR"
)
LIST_QUERY = (
    "query($limit:Int!, $offset:Int!, $status: String, $access_key: String, $filter: String,"
    " $order: String) {\n"
    "  compute_session_list(\n"
    "      limit:$limit, offset:$offset, status:$status, access_key:$access_key,"
    " filter:$filter, order:$order) {\n"
    "    items { FIELDS }\n"
    "    total_count\n"
    "  }\n"
    "}"
)


def _serve_sessions(backend: FakeBackend, sessions: list[dict[str, Any]], *, admin: bool) -> None:
    backend.gql["keypair"] = {
        "access_key": "AK", "secret_key": "SK", "is_active": True, "is_admin": admin,
    }  # fmt: skip

    def answer(variables: dict[str, Any]) -> dict[str, Any]:
        start, limit = variables["offset"], variables["limit"]
        return {"items": sessions[start : start + limit], "total_count": len(sessions)}

    backend.gql["compute_session_list"] = answer


def _list_request(backend: FakeBackend) -> dict[str, Any]:
    return backend.gql_requests()[1]


def test_ps_without_sessions(api_mode: str, backend: FakeBackend) -> None:
    _serve_sessions(backend, [], admin=False)
    result = run_cli("ps")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0, "There are no matching sessions.\n", "",
    )  # fmt: skip
    assert backend.gql_requests()[0]["query"] == (
        "query {  keypair {    access_key secret_key is_active is_admin  }}"
    )
    request = _list_request(backend)
    assert request["query"] == LIST_QUERY.replace(
        "FIELDS",
        "name session_id group_name id image type status status_info status_changed result",
    )
    assert request["variables"] == {
        "status": ACTIVE, "access_key": None, "filter": None, "order": None,
        "limit": 20, "offset": 0,
    }  # fmt: skip


def test_ps_table(api_mode: str, backend: FakeBackend) -> None:
    _serve_sessions(backend, [dict(SESSION)], admin=False)
    result = run_cli("ps")
    assert result.exit_code == 0
    assert result.stdout == (
        "Session Name    Session ID                            Project/Group    Kernel/Task ID"
        "                        Image                                        Type         Status"
        "    Status Info    Last updated               Result\n"
        "--------------  ------------------------------------  ---------------  -------------"
        "-----------------------  -------------------------------------------  -----------  ----"
        "----  -------------  -------------------------  ---------\n"
        "mysess          1d0e196f-dbd7-4c3b-a116-2969d0a16ff7  default          2de2b969-1d04-"
        "48a6-af16-0bc8adb3c831  cr.backend.ai/stable/python:3.9-ubuntu20.04  INTERACTIVE  RUNN"
        "ING                  2021-09-01T12:00:05+00:00  UNDEFINED\n"
    )


def test_admin_gets_owner_column(api_mode: str, backend: FakeBackend) -> None:
    item = {
        "name": "mysess",
        "access_key": "AK",
        **{k: v for k, v in SESSION.items() if k != "name"},
    }
    _serve_sessions(backend, [item], admin=True)
    result = run_cli("admin", "sessions", "--access-key", "AK2")
    assert result.exit_code == 0
    assert result.stdout.split()[:4] == ["Session", "Name", "Owner", "Session"]
    request = _list_request(backend)
    assert "items { name access_key session_id " in request["query"]
    assert request["variables"]["access_key"] == "AK2"


def test_format_option(api_mode: str, backend: FakeBackend) -> None:
    slots = '{"cpu": "1", "mem": "536870912"}'
    _serve_sessions(
        backend, [{"name": "probe-sess1", "status": "RUNNING", "occupied_slots": slots}], admin=True
    )
    result = run_cli("ps", "-f", "name,status,occupied_slots")
    assert result.stdout == (
        "Session Name    Status    Occupied Resource\n"
        "--------------  --------  --------------------------------\n"
        'probe-sess1     RUNNING   {"cpu": "1", "mem": "536870912"}\n'
    )
    assert "items { name status occupied_slots }" in _list_request(backend)["query"]


def test_unknown_format_key(api_mode: str, backend: FakeBackend) -> None:
    _serve_sessions(backend, [], admin=False)
    result = run_cli("ps", "-f", "name,bogus")
    assert result.exit_code == 1
    assert result.stderr_bytes.decode() == "\u2718 There is no such format option: bogus\r\n"
    assert len(backend.gql_requests()) == 1  # the list was never queried


def test_detail_with_a_live_session(api_mode: str, backend: FakeBackend) -> None:
    """A row as the manager sends it for a real session: nulls, JSON strings, timestamps."""
    item = {
        **SESSION,
        "tag": None,
        "created_at": "2021-09-01T12:00:00+00:00",
        "occupied_slots": '{"cpu": "1", "mem": "536870912"}',
    }
    _serve_sessions(backend, [item], admin=False)
    detail = run_cli("ps", "--detail")
    assert detail.exit_code == 0
    header, _, row = detail.stdout.splitlines()
    assert header.endswith("Result     Tag    Created At                 Occupied Resource")
    assert row.endswith(
        'UNDEFINED         2021-09-01T12:00:00+00:00  {"cpu": "1", "mem": "536870912"}'
    )


def test_name_only_and_detail(api_mode: str, backend: FakeBackend) -> None:
    _serve_sessions(backend, [{"name": "a1234"}, {"name": "b1234"}], admin=False)
    assert run_cli("ps", "--name-only").stdout == "a1234\nb1234\n"
    assert "items { name }" in _list_request(backend)["query"]
    run_cli("ps", "--detail")
    assert (
        backend.gql_requests()[-1]["query"].count(
            "status_changed result tag created_at occupied_slots }"
        )
        == 1
    )


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["--running"], "PREPARING,PULLING,RUNNING"),
        (["--dead"], "CANCELLED,TERMINATED"),
        (["--dead", "--running"], "CANCELLED,TERMINATED"),
        (["-s", "ALL"], ACTIVE + ",CANCELLED,TERMINATED"),
        (["-s", "TERMINATED"], "TERMINATED"),
        (["--running", "-s", "PENDING"], "PREPARING,PULLING,RUNNING"),
    ],
)
def test_status_filters(api_mode: str, backend: FakeBackend, args: list[str], status: str) -> None:
    _serve_sessions(backend, [], admin=False)
    assert run_cli("ps", *args, "--filter", "name == 'x'", "--order", "name").exit_code == 0
    variables = _list_request(backend)["variables"]
    assert variables["status"] == status
    assert (variables["filter"], variables["order"]) == ("name == 'x'", "name")


def test_plain_drops_header(api_mode: str, backend: FakeBackend) -> None:
    _serve_sessions(backend, [{"name": "a1234", "status": "RUNNING"}], admin=False)
    assert run_cli("ps", "-f", "name,status", "--plain").stdout == "a1234  RUNNING\n"


def test_long_lists_are_paged(api_mode: str, backend: FakeBackend) -> None:
    sessions = [{"name": f"sess-{i:03d}", "status": "RUNNING"} for i in range(25)]
    _serve_sessions(backend, sessions, admin=False)
    lines = run_cli("ps", "-f", "name,status").stdout.splitlines()
    # 20-line pages: header + 17 rows, then the rest without a header
    assert len(lines) == 27
    assert lines[0].startswith("Session Name") and lines[19] == "sess-017        RUNNING"
    assert [r["variables"]["offset"] for r in backend.gql_requests()[1:]] == [0, 20]


def test_ps_has_no_access_key_option(api_mode: str) -> None:
    result = run_cli("ps", "--access-key", "x")
    assert result.exit_code == 2


SESSION_ID = "1d0e196f-dbd7-4c3b-a116-2969d0a16ff7"
DETAIL: dict[str, Any] = {
    "name": "mysess",
    "session_id": "1d0e196f-dbd7-4c3b-a116-2969d0a16ff7",
    "id": "2de2b969-1d04-48a6-af16-0bc8adb3c831",
    "image": "cr.backend.ai/stable/python:3.9-ubuntu20.04",
    "tag": None,
    "created_at": "2021-09-01T12:00:00+00:00",
    "terminated_at": None,
    "status": "RUNNING",
    "status_info": None,
    "status_data": "{}",
    "occupied_slots": '{"cpu": "1", "mem": "536870912"}',
    "containers": [
        {
            "id": "2de2b969-1d04-48a6-af16-0bc8adb3c831",
            "cluster_role": "main",
            "cluster_idx": 1,
            "cluster_hostname": "main1",
            "agent": "i-agent01",
            "status": "RUNNING",
            "status_info": None,
            "status_data": "{}",
            "status_changed": "2021-09-01T12:00:05+00:00",
            "occupied_slots": '{"cpu": "1", "mem": "536870912"}',
            "live_stat": '{"cpu_used": {"current": "12", "capacity": null, "unit_hint": "msec"}}',
            "last_stat": None,
        }
    ],
    "dependencies": [],
}
DETAIL_OUTPUT = """\
Session Name:       mysess
Session ID:         1d0e196f-dbd7-4c3b-a116-2969d0a16ff7
Kernel/Task ID:     2de2b969-1d04-48a6-af16-0bc8adb3c831
Image:              cr.backend.ai/stable/python:3.9-ubuntu20.04
Tag:                None
Created At:         2021-09-01T12:00:00+00:00
Terminated At:      None
Status:             RUNNING
Status Info:        None
Status Data:        {}
Occupied Resource:  {"cpu": "1", "mem": "536870912"}
Containers:         
  + 2de2b969-1d04-48a6-af16-0bc8adb3c831
    - cluster_role:     main
    - cluster_idx:      1
    - cluster_hostname: main1
    - agent:            i-agent01
    - status:           RUNNING
    - status_info:      None
    - status_data:      {}
    - status_changed:   2021-09-01T12:00:05+00:00
    - occupied_slots:   {"cpu": "1", "mem": "536870912"}
    + live_stat: 
      - cpu_used:         {'current': '12', 'capacity': None, 'unit_hint': 'msec'}
    + last_stat: (unavailable)

Dependencies:       
  - (There are no dependency tasks)
"""  # noqa: W291


@pytest.mark.parametrize("command", [["info"], ["admin", "session"]])
def test_session_detail(api_mode: str, backend: FakeBackend, command: list[str]) -> None:
    backend.gql["compute_session"] = DETAIL
    result = run_cli(*command, SESSION_ID)
    assert result.exit_code == 0
    assert result.stdout == DETAIL_OUTPUT
    assert backend.gql_requests()[0] == {
        "query": "query($id: UUID!) {  compute_session(id: $id) {    name session_id id image tag"
        " created_at terminated_at status status_info status_data occupied_slots containers {"
        " id cluster_role cluster_idx cluster_hostname  agent status status_info status_data"
        " status_changed  occupied_slots live_stat last_stat } dependencies { name id status"
        " status_info status_changed }  }}",
        "variables": {"id": SESSION_ID},
    }


def test_session_detail_errors(api_mode: str, backend: FakeBackend) -> None:
    result = run_cli("info", "mysess")
    assert result.exit_code == 1
    assert result.stderr == (
        "\u2718 In API v5 or later, the session ID must be given in the UUID format.\n"
    )
    backend.gql["compute_session"] = None
    missing = run_cli("admin", "session", SESSION_ID)
    assert (missing.exit_code, missing.stderr) == (1, "\u2718 There is no such compute session.\n")
