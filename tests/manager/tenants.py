"""Tenants of every role in two domains on the in-process manager, and signed calls as each.

``add_tenants`` adds to a harness (whose bootstrap made ``superadmin`` and ``demo``):

| name      | role       | domain  | groups                   |
|-----------|------------|---------|--------------------------|
| superadmin| superadmin | default | default                  |
| dadmin    | admin      | default | default                  |
| dadmin2   | admin      | default | default                  |
| mon       | monitor    | default | default                  |
| demo      | user       | default | default                  |
| bob       | user       | default | default, dteam           |
| oadmin    | admin      | other   | other/default            |
| carol     | user       | other   | other/default            |

and the image ``backendai/python:3.11-debian12`` so that sessions can be created (they stay
PENDING: no agent joins).
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass
from typing import Any
from unittest import mock

import sqlalchemy as sa

from backendai.common.statuses import UserRole
from backendai.manager.db.models import Domain, Group, GroupMembership, Image, ScalingGroupForDomain
from backendai.manager.db.models import User as UserRow
from backendai.manager.services import bootstrap as bootstrap_module
from backendai.manager.services.bootstrap import Credentials, create_user
from tests.fixtures.platform import ManagerHarness

IMAGE = "backendai/python:3.11-debian12"
PASSWORD = "tenant-password-1"


@dataclass(frozen=True)
class Tenant:
    name: str
    email: str
    access_key: str
    secret_key: str
    role: UserRole
    domain: str
    uuid: uuid.UUID


@dataclass
class Tenants:
    harness: ManagerHarness
    by_name: dict[str, Tenant]
    groups: dict[str, uuid.UUID]  # "default/default", "default/dteam", "other/default"

    def __getitem__(self, name: str) -> Tenant:
        return self.by_name[name]

    async def call(self, who: str, method: str, rel_url: str, body: Any = None) -> tuple[int, Any]:
        """A signed request as ``who``: (status, decoded JSON or text)."""
        t = self.by_name[who]
        ctype = "application/json" if body is not None else "text/plain"
        headers = self.harness.headers(t.access_key, t.secret_key, method, rel_url, ctype)
        data = None if body is None else json.dumps(body)
        async with self.harness.client.request(method, rel_url, data=data, headers=headers) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    def stream_headers(self, who: str, rel_url: str) -> dict[str, str]:
        """Signed headers of an SSE or WebSocket request (no Content-Type, signed as
        application/octet-stream: API_CONTRACT §1.4)."""
        t = self.by_name[who]
        headers = self.harness.headers(
            t.access_key, t.secret_key, "GET", rel_url, "application/octet-stream"
        )
        del headers["Content-Type"]
        return headers

    async def gql(self, who: str, query: str, variables: Any = None) -> dict[str, Any]:
        status, body = await self.call(
            who, "POST", "/admin/gql", {"query": query, "variables": variables or {}}
        )
        assert status == 200, body
        assert isinstance(body, dict)
        return body

    async def create_session(self, owner: str, name: str) -> dict[str, Any]:
        """A PENDING session of ``owner``, created by ``owner`` itself."""
        t = self.by_name[owner]
        status, body = await self.call(owner, "POST", "/session", create_body(name, t.domain))
        assert status == 201, body
        assert isinstance(body, dict)
        return body


def create_body(name: str, domain: str, owner_access_key: str | None = None) -> dict[str, Any]:
    return {
        "name": name, "image": IMAGE, "domain": domain, "group": "default",
        "owner_access_key": owner_access_key, "enqueueOnly": True, "type": "interactive",
        "clusterSize": 1, "clusterMode": "single-node", "maxWaitSeconds": 0,
        "reuseIfExists": False, "config": {"resources": {}},
    }  # fmt: skip


_ADDED = [
    ("dadmin", UserRole.ADMIN, "default"),
    ("dadmin2", UserRole.ADMIN, "default"),
    ("mon", UserRole.MONITOR, "default"),
    ("bob", UserRole.USER, "default"),
    ("oadmin", UserRole.ADMIN, "other"),
    ("carol", UserRole.USER, "other"),
]


# Every tenant has PASSWORD: its bcrypt hash (a quarter of a second) is made once per run and
# stored for each of them, instead of six times per test.
_hash_once = functools.cache(bootstrap_module.hash_password)


async def add_tenants(harness: ManagerHarness) -> Tenants:
    with mock.patch.object(bootstrap_module, "hash_password", _hash_once):
        return await _add_tenants(harness)


async def _add_tenants(harness: ManagerHarness) -> Tenants:
    creds: dict[str, tuple[UserRole, str, Credentials]] = {
        "superadmin": (UserRole.SUPERADMIN, "default", harness.users.superadmin),
        "demo": (UserRole.USER, "default", harness.users.demo),
    }
    async with harness.ctx.db() as db, db.begin():
        db.add(Domain(name="other", description="a second tenant domain"))
        db.add(ScalingGroupForDomain(scaling_group="default", domain="other"))
        db.add(Image(name=IMAGE, image="backendai/python", tag="3.11-debian12"))
        default = await db.scalar(
            sa.select(Group.id).where(Group.name == "default", Group.domain_name == "default")
        )
        assert default is not None
        groups = {"default/default": default}
        for domain, name in [("other", "default"), ("default", "dteam")]:
            group = Group(name=name, domain_name=domain, resource_policy="default")
            db.add(group)
            await db.flush()
            groups[f"{domain}/{name}"] = group.id
        for name, role, domain in _ADDED:
            creds[name] = (role, domain, await create_user(
                db, email=f"{name}@example.com", role=role, group_id=groups[f"{domain}/default"],
                domain=domain, password=PASSWORD,
            ))  # fmt: skip
        ids = dict((await db.execute(sa.select(UserRow.email, UserRow.uuid))).all())
        made = {
            name: Tenant(name, c.email, c.access_key, c.secret_key, role, domain, ids[c.email])
            for name, (role, domain, c) in creds.items()
        }
        db.add(GroupMembership(group_id=groups["default/dteam"], user_id=made["bob"].uuid))
    return Tenants(harness, made, groups)
