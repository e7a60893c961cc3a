"""``backend.ai admin keypair(s)/user(s)/domain(s)/group(s)``: queries sent and output shapes.

Expected outputs are those of Backend.AI's official client 20.9.9 for the same answers
(docs/compat-graphql.md).
"""

from __future__ import annotations

from typing import Any

from tests.client.conftest import run_cli
from tests.client.fake_server import FakeBackend

KEYPAIR = {
    "user_id": "user@example.com",
    "user_info": {"full_name": "Jane Doe"},
    "access_key": "AKIAIOSFODNN7EXAMPLE",
    "secret_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "is_active": True,
    "is_admin": False,
    "created_at": "2021-09-01T12:00:00+00:00",
    "last_used": None,
    "resource_policy": "default",
    "rate_limit": 5000,
    "concurrency_limit": 30,
    "concurrency_used": 1,
}
DOMAIN = {
    "name": "default",
    "description": "desc",
    "is_active": True,
    "created_at": "2021-09-01T12:00:00+00:00",
    "total_resource_slots": "{}",
    "allowed_vfolder_hosts": ["local"],
    "allowed_docker_registries": ["cr.backend.ai"],
    "scaling_groups": ["default"],
}
GROUP_ID = "8cf6ddd1-46ad-4559-baa4-91f85234f924"
GROUP: dict[str, Any] = {
    "id": GROUP_ID,
    "name": "default",
    "domain_name": "default",
    "description": "The default project",
    "is_active": True,
    "created_at": "2021-09-01T12:00:00+00:00",
    "total_resource_slots": "{}",
    "allowed_vfolder_hosts": ["local"],
}
USER = {
    "uuid": "ea491148-a0ea-4e39-9f78-c67c1073254a",
    "username": "jane",
    "role": "user",
    "email": "user@example.com",
    "full_name": "Jane Doe",
    "need_password_change": False,
    "status": "active",
    "status_info": None,
    "created_at": "2021-09-01T12:00:00+00:00",
    "domain_name": "default",
    "groups": [{"id": GROUP_ID, "name": "default"}, {"id": "g2", "name": "ml"}],
}


def _page(*items: dict[str, Any]) -> dict[str, Any]:
    return {"items": list(items), "total_count": len(items)}


def test_keypair(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["keypair"] = KEYPAIR
    result = run_cli("admin", "keypair")
    assert result.exit_code == 0
    assert result.stdout == (
        "Field         Value\n"
        "------------  ----------------------------------------\n"
        "Email         user@example.com\n"
        "Full Name     Jane Doe\n"
        "Access Key    AKIAIOSFODNN7EXAMPLE\n"
        "Secret Key    wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        "Active?       True\n"
        "Admin?        False\n"
        "Created At    2021-09-01T12:00:00+00:00\n"
        "Last Used\n"
        "Res.Policy    default\n"
        "Rate Limit    5000\n"
        "Concur.Limit  30\n"
        "Concur.Used   1\n"
    )
    assert backend.gql_requests() == [
        {
            "query": "query {  keypair {    user_id user_info { full_name } access_key secret_key"
            " is_active is_admin created_at last_used resource_policy rate_limit"
            " concurrency_limit concurrency_used  }}",
            "variables": {},
        }
    ]
    # every command first probes the version and the announcement
    assert backend.paths()[:2] == ["GET /", "GET /manager/announcement"]


def test_keypairs(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["keypair_list"] = _page(dict(KEYPAIR))
    result = run_cli("admin", "keypairs", "--is-active", "true")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split("  ")[0] == "Email"
    assert lines[0].split() == [
        "Email", "Full", "Name", "Access", "Key", "Secret", "Key", "Active?", "Admin?",
        "Created", "At", "Last", "Used", "Res.Policy", "Rate", "Limit", "Concur.Limit",
        "Concur.Used",
    ]  # fmt: skip
    assert lines[2].split() == [
        "user@example.com", "Jane", "Doe", "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "True", "False",
        "2021-09-01T12:00:00+00:00", "default", "5000", "30", "1",
    ]  # fmt: skip
    request = backend.gql_requests()[0]
    assert request["query"] == (
        "query($limit:Int!, $offset:Int!, $is_active: Boolean, $domain_name: String,"
        " $filter: String, $order: String) {\n"
        "  keypair_list(\n"
        "      limit:$limit, offset:$offset, is_active:$is_active, domain_name:$domain_name,"
        " filter:$filter, order:$order) {\n"
        "    items { user_id user_info { full_name } access_key secret_key is_active is_admin"
        " created_at last_used resource_policy rate_limit concurrency_limit concurrency_used }\n"
        "    total_count\n"
        "  }\n"
        "}"
    )
    assert request["variables"] == {
        "is_active": True, "domain_name": None, "filter": None, "order": None,
        "limit": 20, "offset": 0,
    }  # fmt: skip


def test_keypairs_of_one_user_and_empty(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["keypair_list"] = _page()
    result = run_cli("admin", "keypairs", "-u", "someone@example.com")
    assert result.exit_code == 0
    assert result.stdout == "There are no matching keypairs.\n"
    assert backend.gql_requests()[0]["variables"]["email"] == "someone@example.com"


def test_user_self_and_by_email(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["user"] = USER
    result = run_cli("admin", "user")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:3] == [
        "Field                 Value",
        "--------------------  " + "-" * 47,
        "UUID                  ea491148-a0ea-4e39-9f78-c67c1073254a",
    ]
    assert result.stdout.splitlines()[-2:] == [
        "Groups                default (8cf6ddd1-46ad-4559-baa4-91f85234f924),",
        "                      ml (g2)",
    ]
    fields = (
        "uuid username role email full_name need_password_change status status_info"
        " created_at domain_name groups { id name }"
    )
    assert backend.gql_requests()[0] == {
        "query": f"query {{\n    user {{{fields}}}\n}}\n",
        "variables": {},
    }
    run_cli("admin", "user", "-e", "a@b.c")
    assert backend.gql_requests()[1] == {
        "query": f"query($email: String) {{\n    user(email: $email) {{{fields}}}\n}}\n",
        "variables": {"email": "a@b.c"},
    }


def test_user_not_found(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["user"] = None
    result = run_cli("admin", "user", "-e", "x@y.z")
    assert result.exit_code == 1
    assert result.stdout == "There is no such user.\n"


def test_users(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["user_list"] = _page(dict(USER))
    result = run_cli("admin", "users", "-s", "active", "-g", GROUP_ID)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[2].endswith("default        default, ml")
    assert backend.gql_requests()[0]["variables"] == {
        "status": "active", "group_id": GROUP_ID, "filter": None, "order": None,
        "limit": 20, "offset": 0,
    }  # fmt: skip
    backend.gql["user_list"] = _page()
    assert run_cli("admin", "users").stdout == "There are no matching users.\n"


def test_domain(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["domain"] = DOMAIN
    result = run_cli("admin", "domain")
    assert result.exit_code == 0
    assert result.stdout == (
        "Field                      Value\n"
        "-------------------------  -------------------------\n"
        "Name                       default\n"
        "Description                desc\n"
        "Active?                    True\n"
        "Created At                 2021-09-01T12:00:00+00:00\n"
        "Total Resource Slots       {}\n"
        "Allowed vFolder Hosts      ['local']\n"
        "Allowed Docker Registries  ['cr.backend.ai']\n"
        "Scaling Groups             ['default']\n"
    )
    assert backend.gql_requests()[0] == {
        "query": "query($name: String) {\n    domain(name: $name) {name description is_active"
        " created_at total_resource_slots allowed_vfolder_hosts allowed_docker_registries"
        " scaling_groups}\n}\n",
        "variables": {"name": None},
    }


def test_domain_error_is_one_line_and_exit_1(api_mode: str, backend: FakeBackend) -> None:
    backend.gql_errors = [{"message": "No domain nope."}]
    result = run_cli("admin", "domain", "-n", "nope")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr_bytes.decode() == (
        "\u2718 BackendAPIError: 400 Bad request\n"
        "  GraphQL-generated error\n"
        "  \u279c Error details:\n"
        "  No domain nope.\n"
        "\r\n"
    )


def test_domains(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["domains"] = [DOMAIN]
    result = run_cli("admin", "domains")
    assert result.exit_code == 0
    assert result.stdout == (
        "Name     Description    Active?    Created At                 Total Resource Slots"
        "    Allowed vFolder Hosts    Allowed Docker Registries    Scaling Groups\n"
        "-------  -------------  ---------  -------------------------  ----------------------"
        "  -----------------------  ---------------------------  ----------------\n"
        "default  desc           True       2021-09-01T12:00:00+00:00  {}                    "
        "  ['local']                ['cr.backend.ai']            ['default']\n"
    )
    backend.gql["domains"] = []
    assert run_cli("admin", "domains").stdout == "There is no domain.\n"


def test_group(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["group"] = GROUP
    result = run_cli("admin", "group", GROUP_ID)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[2:4] == [
        "ID                     8cf6ddd1-46ad-4559-baa4-91f85234f924",
        "Name                   default",
    ]
    assert backend.gql_requests()[0] == {
        "query": "query($gid: UUID!) {\n    group(id: $gid) {id name domain_name description"
        " is_active created_at total_resource_slots allowed_vfolder_hosts}\n}\n",
        "variables": {"gid": GROUP_ID},
    }
    backend.gql["group"] = None
    missing = run_cli("admin", "group", GROUP_ID)
    assert (missing.exit_code, missing.stdout) == (1, "There is no such group.\n")


def test_groups(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["groups"] = [GROUP]
    result = run_cli("admin", "groups", "-d", "default")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].split("  ")[0] == "ID"
    assert backend.gql_requests()[0]["variables"] == {"domain_name": "default"}
    backend.gql["groups"] = []
    assert run_cli("admin", "groups").stdout == "There is no group.\n"


def test_help_everywhere() -> None:
    for args in (
        [], ["admin"], ["admin", "keypair"], ["admin", "keypairs"], ["admin", "user"],
        ["admin", "users"], ["admin", "domain"], ["admin", "domains"], ["admin", "group"],
        ["admin", "groups"], ["admin", "sessions"], ["admin", "session"], ["ps"], ["info"],
        ["config"], ["login"], ["logout"],
    ):  # fmt: skip
        for flag in ("--help", "-h"):
            result = run_cli(*args, flag)
            assert result.exit_code == 0, (args, result.output)
            assert result.stdout.startswith(f"Usage: backend.ai {' '.join(args)}".rstrip())


def test_groups_without_a_command_show_help() -> None:
    for args in ([], ["admin"]):
        result = run_cli(*args)
        assert result.exit_code == 0
        assert "Commands:" in result.stdout
