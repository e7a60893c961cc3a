"""Resource administration with both CLIs against a live platform: agents, scaling groups,
keypair resource policies (and that a policy of one concurrent session holds), and clear
refusals of bad input and of normal users.

Every name is made unique per test and CLI, so that the two runs and other tests on the shared
live server never collide; what a test makes it removes where it can.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa

from backendai.common.statuses import UserRole
from backendai.manager.db.engine import create_engine, create_session_factory
from backendai.manager.db.models import Group, KeyPair
from backendai.manager.services.bootstrap import Credentials, create_user
from backendai.server.main import local_agent_id
from tests.compat.conftest import Runner, api_env
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.compat]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def output(r: object) -> str:
    return f"{getattr(r, 'stdout', '')}{getattr(r, 'stderr', '')}"


def superadmin(server: LiveServer) -> dict[str, str]:
    return api_env(server, "superadmin")


async def _add_user(server: LiveServer, email: str, policy: str) -> Credentials:
    """A user of the default domain and group whose keypair has ``policy`` (written straight to
    the platform's database: adding users and keypairs is another area's command)."""
    engine = create_engine(f"sqlite:///{server.data_dir / 'backendai.db'}")
    try:
        async with create_session_factory(engine)() as db, db.begin():
            group = await db.scalar(
                sa.select(Group.id).where(Group.name == "default", Group.domain_name == "default")
            )
            assert group is not None
            creds = await create_user(db, email=email, role=UserRole.USER, group_id=group)
            await db.execute(
                sa.update(KeyPair)
                .where(KeyPair.access_key == creds.access_key)
                .values(resource_policy=policy)
            )
        return creds
    finally:
        await engine.dispose()


def env_of(server: LiveServer, creds: Credentials) -> dict[str, str]:
    return api_env(server) | {
        "BACKEND_ACCESS_KEY": creds.access_key,
        "BACKEND_SECRET_KEY": creds.secret_key,
    }


def test_admin_agents_lists_the_local_agent(cli: Runner, live_server: LiveServer) -> None:
    agent_id = local_agent_id(live_server.data_dir)
    r = cli("admin", "agents", env=superadmin(live_server))
    assert r.returncode == 0, output(r)
    assert agent_id in r.stdout and "ALIVE" in r.stdout
    assert "Total slots" in r.stdout and "cpu" in r.stdout
    r = cli("admin", "agent", agent_id, env=superadmin(live_server))
    assert r.returncode == 0, output(r)
    assert agent_id in r.stdout and "Occupied slots" in r.stdout


def test_a_normal_user_is_refused_admin_commands(cli: Runner, live_server: LiveServer) -> None:
    demo = api_env(live_server)
    r = cli("admin", "agents", env=demo)
    assert r.returncode != 0
    assert "user role may not list agents" in output(r)
    r = cli("admin", "scaling-groups", "add", unique("sg"), env=demo)
    assert r.returncode != 0
    assert "user role may not create scaling-groups" in output(r)
    r = cli("admin", "keypair-resource-policies", "add", unique("pol"), env=demo)
    assert r.returncode != 0
    assert "user role may not create policys" in output(r).replace("policies", "policys")
    # ...but reads its own keypair's policy.
    r = cli("admin", "keypair-resource-policy", env=demo)
    assert r.returncode == 0, output(r)
    assert "Max Concurrent Sessions" in r.stdout and "default" in r.stdout


def test_scaling_group_add_associate_list_and_remove(cli: Runner, live_server: LiveServer) -> None:
    env = superadmin(live_server)
    name = unique("sg")
    r = cli("admin", "scaling-groups", "add", name, "-d", "a test group", env=env)
    assert r.returncode == 0, output(r)
    assert f"Scaling group name {name} is created." in output(r)
    r = cli("admin", "scaling-groups", "associate-scaling-group", name, "default", env=env)
    assert r.returncode == 0, output(r)
    assert name in output(r) and "domain default" in output(r)
    r = cli("admin", "scaling-groups", env=env)
    assert r.returncode == 0 and name in r.stdout, output(r)
    r = cli("admin", "scaling-group", "-n", name, env=env)
    assert r.returncode == 0 and "a test group" in r.stdout, output(r)
    r = cli("admin", "list-scaling-groups", "default", env=env)
    assert r.returncode == 0 and name in r.stdout, output(r)
    r = cli("admin", "scaling-groups", "dissociate-scaling-group", name, "default", env=env)
    assert r.returncode == 0, output(r)
    r = cli("admin", "scaling-groups", "delete", name, env=env)
    assert r.returncode == 0 and f"Scaling group is deleted: {name}." in output(r), output(r)


def test_unknown_scaling_group_is_named_in_the_refusal(
    cli: Runner, live_server: LiveServer
) -> None:
    ghost = unique("nowhere")
    r = cli(
        "admin", "scaling-groups", "associate-scaling-group", ghost, "default",
        env=superadmin(live_server),
    )  # fmt: skip
    assert r.returncode != 0
    assert ghost in output(r)


@pytest.mark.docker
def test_policy_of_one_concurrent_session_refuses_the_second(
    cli: Runner, live_server: LiveServer
) -> None:
    admin = superadmin(live_server)
    policy = unique("one")
    r = cli(
        "admin", "keypair-resource-policies", "add", policy, "--max-concurrent-sessions", "1",
        env=admin,
    )  # fmt: skip
    assert r.returncode == 0, output(r)
    assert f"Keypair resource policy {policy} is created." in output(r)
    r = cli("admin", "keypair-resource-policies", env=admin)
    assert r.returncode == 0 and policy in r.stdout, output(r)
    creds = asyncio.run(_add_user(live_server, f"{unique('one')}@example.com", policy))
    env = env_of(live_server, creds)
    first, second = unique("first"), unique("second")
    try:
        r = cli("run", "-t", first, "-c", "print('first')", "python", env=env)
        assert r.returncode == 0 and "first" in r.stdout, output(r)
        r = cli("run", "-t", second, "-c", "print('second')", "python", env=env)
        # Refused with the reason (both CLIs' `run` print it and still exit 0).
        assert "limit is 1" in output(r) and "second" not in r.stdout, output(r)
        # The policy is in use: deleting it is refused, naming the keypair.
        r = cli("admin", "keypair-resource-policies", "delete", policy, env=admin, stdin="y\n")
        assert r.returncode != 0
        assert creds.access_key in output(r) and "still used" in output(r)
    finally:
        cli("rm", first, env=env)


def test_storage_and_resource_configuration(cli: Runner, live_server: LiveServer) -> None:
    env = superadmin(live_server)
    r = cli("admin", "storage-list", env=env)
    assert r.returncode == 0 and "local" in r.stdout and "vfs" in r.stdout, output(r)
    r = cli("admin", "storage", "local", env=env)
    assert r.returncode == 0 and "vfs" in r.stdout, output(r)
    r = cli("admin", "resources", "resource-slots", env=env)
    assert "cpu (count)" in r.stdout and "mem (bytes)" in r.stdout, output(r)
    r = cli("admin", "resources", "vfolder-types", env=env)
    assert r.stdout.split() == ["user", "group"], output(r)
    r = cli("admin", "resources", "docker-registries", env=env)
    assert r.returncode == 0, output(r)
    r = cli("admin", "resources", "recalculate-usage", env=env)
    assert "Resource allocation is re-calculated." in output(r)


def test_usage_per_period(cli: Runner, live_server: LiveServer) -> None:
    env = superadmin(live_server)
    r = cli("admin", "groups", env=env)
    group_id = next(
        (word for line in r.stdout.splitlines() for word in line.split() if _is_uuid(word)), None
    )
    assert group_id is not None, output(r)
    r = cli("admin", "resources", "usage-per-period", group_id, "20000101", "20000131", env=env)
    assert r.returncode == 0 and "No usage information during the period." in r.stdout, output(r)
    r = cli("admin", "resources", "usage-per-period", group_id, "2000-01-01", "x", env=env)
    assert "yyyymmdd" in output(r)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def test_scheduler_exclude_and_include_agents(cli: Runner, live_server: LiveServer) -> None:
    env = superadmin(live_server)
    agent_id = local_agent_id(live_server.data_dir)
    try:
        r = cli("manager", "scheduler", "exclude-agents", agent_id, env=env)
        assert r.returncode == 0, output(r)
        r = cli("admin", "agent", agent_id, env=env)
        if "Schedulable?" in r.stdout:  # our CLI shows it
            assert "False" in r.stdout, output(r)
    finally:
        r = cli("manager", "scheduler", "include-agents", agent_id, env=env)
        assert r.returncode == 0, output(r)
    r = cli("manager", "scheduler", "exclude-agents", unique("ghost"), env=env)
    assert r.returncode != 0 and "No agent with the id ghost-" in output(r), output(r)
