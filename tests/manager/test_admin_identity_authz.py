"""Authorization probes of the identity mutations: every role (superadmin, domain admin,
monitor, user) against each create/update/delete of a user, keypair, group and domain, with
the reach written out by hand in ``tests/manager/test_authz.py`` (whose ``NOT_EXPOSED`` still
lists these rows until it is reconciled with this file).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa

from backendai.common.statuses import UserStatus
from backendai.manager.authz import Action, Resource
from backendai.manager.db.models import Domain, Group, KeyPair, User
from tests.manager.tenants import Tenants
from tests.manager.test_admin_identity import (
    CREATE_DOMAIN,
    CREATE_GROUP,
    CREATE_KEYPAIR,
    CREATE_USER,
    DELETE_DOMAIN,
    DELETE_GROUP,
    DELETE_KEYPAIR,
    DELETE_USER,
    MODIFY_DOMAIN,
    MODIFY_GROUP,
    MODIFY_KEYPAIR,
    MODIFY_USER,
    keypair_input,
    made,
    mutate,
    t,
    user_input,
)
from tests.manager.test_authz import ACTORS, GHOST, GROUPS, TENANTS, expected_reach

pytestmark = pytest.mark.asyncio(loop_scope="module")
__all__ = ["t"]  # the tenants fixture, shared with test_admin_identity

# ---------------------------------------------------------------------------------------------
# Authorization probes: every role against every create/update/delete of the four resources.

Outcome = tuple[str, str]
Probe = Callable[[Tenants, str, str], Awaitable[Outcome]]
DOMAIN_OF = {n: ("other" if n in ("oadmin", "carol") else "default") for n in TENANTS}


async def _outcome(t: Tenants, who: str, query: str, variables: dict[str, Any]) -> Outcome:
    answer = await mutate(t, who, query, variables)
    return ("denied", answer[1]) if isinstance(answer, tuple) else ("ok", "")


def _email(t: Tenants, target: str) -> str:
    return "ghost@example.com" if target == GHOST else t[target].email


def _gid(t: Tenants, target: str) -> str:
    return str(uuid.uuid4()) if target == GHOST else str(t.groups[target])


async def _restore_user(t: Tenants, target: str) -> None:
    if target == GHOST:
        return
    async with t.harness.ctx.db() as db, db.begin():
        await db.execute(sa.update(User).where(User.email == t[target].email)
                         .values(status=UserStatus.ACTIVE))  # fmt: skip
        await db.execute(sa.update(KeyPair).where(KeyPair.user == t[target].uuid)
                         .values(is_active=True))  # fmt: skip


async def _user_create(t: Tenants, who: str, target: str) -> Outcome:
    domain, role = (
        ("nosuch", "user") if target == GHOST else (DOMAIN_OF[target], t[target].role.value)
    )
    variables = {"email": f"p{next(made)}@example.com", "input": user_input(domain, role)}
    return await _outcome(t, who, CREATE_USER, variables)


async def _user_update(t: Tenants, who: str, target: str) -> Outcome:
    variables = {"email": _email(t, target), "input": {"description": f"d{next(made)}"}}
    return await _outcome(t, who, MODIFY_USER, variables)


async def _user_delete(t: Tenants, who: str, target: str) -> Outcome:
    outcome = await _outcome(t, who, DELETE_USER, {"email": _email(t, target)})
    await _restore_user(t, target)
    return outcome


async def _keypair_create(t: Tenants, who: str, target: str) -> Outcome:
    variables = {"user_id": _email(t, target), "input": keypair_input()}
    return await _outcome(t, who, CREATE_KEYPAIR, variables)


async def _keypair_update(t: Tenants, who: str, target: str) -> Outcome:
    key = "AKIAGHOSTGHOSTGHOST0" if target == GHOST else t[target].access_key
    variables = {"access_key": key, "input": {"rate_limit": 10000}}
    return await _outcome(t, who, MODIFY_KEYPAIR, variables)


async def _keypair_delete(t: Tenants, who: str, target: str) -> Outcome:
    key = "AKIAGHOSTGHOSTGHOST0"
    if target != GHOST:
        spare = await mutate(
            t, "superadmin", CREATE_KEYPAIR, {"user_id": t[target].email, "input": keypair_input()}
        )
        key = spare["keypair"]["access_key"]
    return await _outcome(t, who, DELETE_KEYPAIR, {"access_key": key})


async def _group_create(t: Tenants, who: str, target: str) -> Outcome:
    domain = "nosuch" if target == GHOST else target.split("/")[0]
    variables = {"name": f"pg{next(made)}", "input": {"domain_name": domain}}
    return await _outcome(t, who, CREATE_GROUP, variables)


async def _group_update(t: Tenants, who: str, target: str) -> Outcome:
    variables = {"gid": _gid(t, target), "input": {"description": f"d{next(made)}"}}
    return await _outcome(t, who, MODIFY_GROUP, variables)


async def _group_delete(t: Tenants, who: str, target: str) -> Outcome:
    outcome = await _outcome(t, who, DELETE_GROUP, {"gid": _gid(t, target)})
    if target != GHOST:
        async with t.harness.ctx.db() as db, db.begin():
            await db.execute(sa.update(Group).where(Group.id == t.groups[target])
                             .values(is_active=True))  # fmt: skip
    return outcome


async def _domain_create(t: Tenants, who: str, target: str) -> Outcome:
    # A ghost is a name nobody may take: the domain exists already.
    name = "default" if target == GHOST else f"{target}-{next(made)}"
    return await _outcome(t, who, CREATE_DOMAIN, {"name": name, "input": {}})


async def _domain_update(t: Tenants, who: str, target: str) -> Outcome:
    name = "nosuch" if target == GHOST else target
    variables = {"name": name, "input": {"description": f"d{next(made)}"}}
    return await _outcome(t, who, MODIFY_DOMAIN, variables)


async def _domain_delete(t: Tenants, who: str, target: str) -> Outcome:
    name = "nosuch" if target == GHOST else target
    outcome = await _outcome(t, who, DELETE_DOMAIN, {"name": name})
    async with t.harness.ctx.db() as db, db.begin():
        await db.execute(sa.update(Domain).values(is_active=True))
    return outcome


PROBES: dict[tuple[Resource, Action], tuple[str, Probe]] = {
    (Resource.USER, Action.CREATE): ("tenant", _user_create),
    (Resource.USER, Action.UPDATE): ("tenant", _user_update),
    (Resource.USER, Action.DELETE): ("tenant", _user_delete),
    (Resource.KEYPAIR, Action.CREATE): ("tenant", _keypair_create),
    (Resource.KEYPAIR, Action.UPDATE): ("tenant", _keypair_update),
    (Resource.KEYPAIR, Action.DELETE): ("tenant", _keypair_delete),
    (Resource.GROUP, Action.CREATE): ("group", _group_create),
    (Resource.GROUP, Action.UPDATE): ("group", _group_update),
    (Resource.GROUP, Action.DELETE): ("group", _group_delete),
    (Resource.DOMAIN, Action.CREATE): ("domain", _domain_create),
    (Resource.DOMAIN, Action.UPDATE): ("domain", _domain_update),
    (Resource.DOMAIN, Action.DELETE): ("domain", _domain_delete),
}
PROBE_CASES = [(a, r, x) for a in ACTORS for (r, x) in PROBES]


@pytest.mark.parametrize(("actor", "resource", "action"), PROBE_CASES, ids=str)
async def test_every_role_reaches_exactly_its_scope(
    t: Tenants, actor: str, resource: Resource, action: Action
) -> None:
    kind, probe = PROBES[(resource, action)]
    targets = {"tenant": TENANTS, "group": GROUPS, "domain": {"default", "other"}}[kind]
    outcomes = {target: await probe(t, actor, target) for target in sorted(targets | {GHOST})}
    allowed = {target for target, (result, _) in outcomes.items() if result == "ok"}
    assert allowed == expected_reach(actor, resource, action)
    # What the actor may not even see is refused exactly like a thing that does not exist.
    unseen = targets - expected_reach(actor, resource, Action.READ) | {GHOST}
    assert len({outcomes[target] for target in unseen}) == 1, outcomes
    assert outcomes[GHOST][0] == "denied"
