"""Identity administration with both CLIs on a live platform (issue 7's user story): a
superadmin adds a user and a keypair, the new user runs code and sees only its own sessions;
a normal user is refused every admin mutation; a domain admin never sees a superadmin's
secret key.

Each test names what it makes after a fresh suffix, so the two CLIs never collide.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.compat.conftest import Runner, api_env
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.compat, pytest.mark.docker]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def keys_of(output: str) -> tuple[str, str]:
    access = re.search(r"^Access Key: (\S+)$", output, re.M)
    secret = re.search(r"^Secret Key: (\S+)$", output, re.M)
    assert access and secret, output
    return access.group(1), secret.group(1)


def env_of(server: LiveServer, access: str, secret: str) -> dict[str, str]:
    return {"BACKEND_ENDPOINT_TYPE": "api", "BACKEND_ENDPOINT": server.endpoint,
            "BACKEND_ACCESS_KEY": access, "BACKEND_SECRET_KEY": secret}  # fmt: skip


def add_user_with_keys(cli: Runner, server: LiveServer, email: str, *flags: str) -> dict[str, str]:
    su = api_env(server, "superadmin")
    r = cli("admin", "users", "add", *flags, "default", email, "PASS-word-1", env=su)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"User {email} is created in domain default." in r.stdout
    r = cli("admin", "keypairs", "add", email, "default", env=su)
    assert r.returncode == 0, r.stdout + r.stderr
    return env_of(server, *keys_of(r.stdout))


def test_new_user_runs_code_and_sees_only_its_own_sessions(
    cli: Runner, live_server: LiveServer
) -> None:
    demo = api_env(live_server)
    demo_session = unique("demo-own")
    r = cli("start", "-t", demo_session, "python", env=demo)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        bob = add_user_with_keys(cli, live_server, f"{unique('bob')}@example.com")
        r = cli("run", "--rm", "-c", "print(1)", "python", env=bob)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "1" in r.stdout.splitlines()
        r = cli("ps", env=bob)
        assert r.returncode == 0, r.stdout + r.stderr
        assert demo_session not in r.stdout
        assert demo_session in cli("ps", env=demo).stdout
    finally:
        cli("rm", demo_session, env=demo)


DENIED = [
    ("admin", "users", "add", "default", "intruder@example.com", "pw-123456"),
    ("admin", "users", "update", "demo@example.com", "-n", "Mallory"),
    ("admin", "users", "delete", "admin@example.com"),
    ("admin", "keypairs", "add", "demo@example.com", "default"),
    ("admin", "domains", "add", "intruders"),
    ("admin", "domains", "update", "default", "--description", "x"),
    ("admin", "domains", "delete", "default"),
    ("admin", "groups", "add", "default", "intruders"),
]


@pytest.mark.parametrize("args", DENIED, ids=lambda a: "-".join(a[1:3]))
def test_normal_user_is_refused_admin_mutations(
    cli: Runner, live_server: LiveServer, args: tuple[str, ...]
) -> None:
    r = cli(*args, env=api_env(live_server))
    assert r.returncode != 0, r.stdout
    assert re.search(r"The user role may not (create|update|delete) \w+s\.", r.stdout + r.stderr)


def test_normal_user_cannot_touch_keypairs(cli: Runner, live_server: LiveServer) -> None:
    admin_key = live_server.user("superadmin")["access_key"]
    for command in ("deactivate", "delete"):
        r = cli("admin", "keypairs", command, admin_key, env=api_env(live_server))
        assert r.returncode != 0, r.stdout
        assert "The user role may not" in r.stdout + r.stderr


def test_domain_admin_never_sees_a_superadmin_secret(cli: Runner, live_server: LiveServer) -> None:
    superadmin = live_server.user("superadmin")
    dadmin = add_user_with_keys(cli, live_server, f"{unique('dadm')}@example.com", "-r", "admin")
    outputs = []
    for args in (("admin", "keypairs"), ("admin", "keypair"), ("admin", "users")):
        r = cli(*args, env=dadmin)
        assert r.returncode == 0, r.stdout + r.stderr
        outputs.append(r.stdout + r.stderr)
    r = cli("admin", "keypairs", "add", superadmin["email"], "default", env=dadmin)
    assert r.returncode != 0
    outputs.append(r.stdout + r.stderr)
    r = cli("admin", "keypairs", "update", superadmin["access_key"], "-r", "1", env=dadmin)
    assert r.returncode != 0 and "that you may see" in r.stdout + r.stderr
    outputs.append(r.stdout + r.stderr)
    assert not any(superadmin["secret_key"] in out for out in outputs)
    # Its own domain's users it manages: it hands a new key over (shown this once).
    email = f"{unique('member')}@example.com"
    r = cli("admin", "users", "add", "default", email, "PASS-word-1", env=dadmin)
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli("admin", "keypairs", "add", email, "default", env=dadmin)
    assert r.returncode == 0, r.stdout + r.stderr
    access, secret = keys_of(r.stdout)
    assert len(secret) == 40
    r = cli("admin", "keypairs", "-u", email, env=dadmin)
    assert access in r.stdout and secret not in r.stdout
    r = cli("admin", "users", "add", "-r", "monitor", "default", f"{unique('m')}@example.com",
            "PASS-word-1", env=dadmin)  # fmt: skip
    assert r.returncode != 0 and "may not create the monitor role" in r.stdout + r.stderr


def test_duplicate_email_is_refused_by_name(cli: Runner, live_server: LiveServer) -> None:
    su = api_env(live_server, "superadmin")
    r = cli("admin", "users", "add", "default", "demo@example.com", "pw-123456", env=su)
    assert r.returncode != 0
    assert "A user with the email demo@example.com already exists." in r.stdout + r.stderr
    r = cli("admin", "users", "add", "nosuch", f"{unique('x')}@example.com", "pw", env=su)
    assert r.returncode != 0 and "There is no domain named 'nosuch'." in r.stdout + r.stderr


def test_list_filter_and_order_expressions(cli: Runner, live_server: LiveServer) -> None:
    """``--filter`` and ``--order`` reach the server and are applied (they were ignored)."""
    su = api_env(live_server, "superadmin")
    tag = unique("flt")
    for name in ("b", "a", "c"):
        r = cli("admin", "users", "add", "default", f"{tag}-{name}@example.com", "PASS-word-1",
                env=su)  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
    r = cli("admin", "users", "--filter", f'email like "{tag}-%" & email != "{tag}-b@example.com"',
            "--order", "-email", env=su)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    listed = list(dict.fromkeys(re.findall(rf"{tag}-\w@example\.com", r.stdout)))  # email, username
    assert listed == [f"{tag}-c@example.com", f"{tag}-a@example.com"], r.stdout
    assert "demo@example.com" not in r.stdout
    r = cli("admin", "users", "--filter", "password == 1", env=su)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "unknown field 'password'" in out, out
