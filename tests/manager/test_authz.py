"""The authorization table, whole: every role against every resource and action.

``EXPECTED`` below is written out independently of ``backendai.manager.authz``: a wrong row in
the table fails ``test_table_row`` at once, and ``test_endpoint`` checks through the real REST
and GraphQL endpoints (on the in-process manager, tenants of every role in two domains) that
each role reaches exactly the things its scope promises: no more, no fewer, and that whatever
it may not reach is answered exactly like something that does not exist.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from backendai.common.statuses import UserRole
from backendai.manager.authz import Action, Resource, Target, permits, scope_of
from backendai.manager.authz.table import ROWS
from tests.fixtures.platform import running_manager
from tests.manager.tenants import Tenants, add_tenants, create_body

EXPECTED_TEXT = """
resource action           superadmin admin   monitor user
session  list             all        domain  all     own
session  read             all        domain  all     own
session  create           all        domain  own     own
session  use              all        domain  own     own
session  terminate        all        domain  own     own
session  force-terminate  all        domain  none    none
keypair  list             all        domain  all     own
keypair  read             all        domain  all     own
keypair  read-secret      all        own     own     own
keypair  create           all        domain  none    none
keypair  update           all        domain  none    none
keypair  delete           all        domain  none    none
user     list             all        domain  all     own
user     read             all        domain  all     own
user     create           all        domain  none    none
user     update           all        domain  none    none
user     delete           all        domain  none    none
group    list             all        domain  all     own
group    read             all        domain  all     own
group    create           all        domain  none    none
group    update           all        domain  none    none
group    delete           all        domain  none    none
domain   list             all        none    all     none
domain   read             all        domain  all     domain
domain   create           all        none    none    none
domain   update           all        none    none    none
domain   delete           all        none    none    none
policy   list             all        all     all     none
policy   create           all        none    none    none
policy   update           all        none    none    none
policy   delete           all        none    none    none
preset   list             all        all     all     all
preset   create           all        none    none    none
preset   update           all        none    none    none
preset   delete           all        none    none    none
scaling-group list        all        domain  all     own
scaling-group create      all        none    none    none
scaling-group update      all        none    none    none
scaling-group delete      all        none    none    none
agent    list             all        none    all     none
agent    read             all        none    all     none
agent    update           all        none    none    none
image    list             all        domain  all     own
image    use              all        domain  own     own
image    create           all        none    none    none
image    update           all        none    none    none
image    delete           all        domain  none    own
session  commit           all        domain  own     own
storage  list             all        all     all     none
vfolder  list             all        domain  all     own
vfolder  read             all        domain  own     own
vfolder  create           all        domain  none    none
vfolder  use              all        domain  own     own
vfolder  update           all        domain  own     own
vfolder  delete           all        domain  own     own
usage    list             all        domain  all     none
announcement read         all        all     all     all
announcement update       all        none    none    none
dotfile  list             all        domain  own     own
dotfile  read             all        domain  own     own
dotfile  create           all        domain  own     own
dotfile  update           all        domain  own     own
dotfile  delete           all        domain  own     own
error-log list            all        domain  all     own
error-log update          all        domain  none    own
config   read             all        none    none    none
config   update           all        none    none    none
config   delete           all        none    none    none
manager  read             all        all     all     all
manager  update           all        none    none    none
"""


def _parse_expected() -> dict[tuple[UserRole, Resource, Action], str]:
    lines = [line.split() for line in EXPECTED_TEXT.strip().splitlines()]
    roles = [UserRole(r) for r in lines[0][2:]]
    return {
        (role, Resource(res), Action(act)): scope
        for res, act, *scopes in lines[1:]
        for role, scope in zip(roles, scopes, strict=True)
    }


EXPECTED = _parse_expected()
CASES = list(itertools.product(UserRole, Resource, Action))


@pytest.mark.parametrize(("role", "resource", "action"), CASES, ids=lambda v: str(v))
def test_table_row(role: UserRole, resource: Resource, action: Action) -> None:
    """Every (role, resource, action), including pairs the table is silent on (never)."""
    assert scope_of(role, resource, action).name.lower() == EXPECTED.get(
        (role, resource, action), "none"
    )


# ---------------------------------------------------------------------------------------------
# What each scope reaches, per actor, written out by hand (not derived from the code's ranks).

ACTORS = {"superadmin": UserRole.SUPERADMIN, "dadmin": UserRole.ADMIN, "mon": UserRole.MONITOR,
          "demo": UserRole.USER}  # fmt: skip
TENANTS = {"superadmin", "dadmin", "dadmin2", "mon", "demo", "bob", "oadmin", "carol"}
DEFAULT_DOMAIN = {"superadmin", "dadmin", "dadmin2", "mon", "demo", "bob"}
GROUPS = {"default/default", "default/dteam", "other/default"}
GHOST = "ghost"

REACH: dict[str, dict[str, dict[str, set[str]]]] = {
    # kind -> actor -> scope -> targets
    "tenant": {
        actor: {
            "none": set(),
            "own": {actor},
            "domain": {
                "superadmin": DEFAULT_DOMAIN,
                "dadmin": {"dadmin", "dadmin2", "demo", "bob"},  # never a monitor or superadmin
                "mon": {"mon", "dadmin", "dadmin2", "demo", "bob"},
                "demo": {"demo", "bob"},
            }[actor],
            "all": TENANTS,
        }
        for actor in ACTORS
    },
    "group": {
        actor: {
            "none": set(),
            "own": {"default/default"},  # every actor belongs to its domain's default group
            "domain": {"default/default", "default/dteam"},
            "all": GROUPS,
        }
        for actor in ACTORS
    },
    "domain": {
        actor: {"none": set(), "own": set(), "domain": {"default"}, "all": {"default", "other"}}
        for actor in ACTORS
    },
}
KIND = {Resource.SESSION: "tenant", Resource.KEYPAIR: "tenant", Resource.USER: "tenant",
        Resource.GROUP: "group", Resource.DOMAIN: "domain",
        # Owned things are decided on their owner; platform-wide ones have none.
        Resource.SCALING_GROUP: "tenant", Resource.IMAGE: "tenant", Resource.DOTFILE: "tenant",
        Resource.ERROR_LOG: "tenant", Resource.USAGE: "tenant", Resource.VFOLDER: "tenant",
        Resource.POLICY: "domain", Resource.PRESET: "domain", Resource.AGENT: "domain",
        Resource.STORAGE: "domain", Resource.ANNOUNCEMENT: "domain", Resource.CONFIG: "domain",
        Resource.MANAGER: "domain"}  # fmt: skip


def expected_reach(actor: str, resource: Resource, action: Action) -> set[str]:
    scope = EXPECTED.get((ACTORS[actor], resource, action), "none")
    return REACH[KIND[resource]][actor][scope]


# ---------------------------------------------------------------------------------------------
# The platform: every tenant owns one PENDING session named base-<tenant>.


@dataclass
class World:
    t: Tenants
    base: dict[str, str]  # tenant -> its base session's id
    made: itertools.count[int] = field(default_factory=itertools.count)

    def key(self, target: str) -> str:
        return "AKIAGHOSTGHOSTGHOST0" if target == GHOST else self.t[target].access_key

    def session_id(self, target: str) -> str:
        return str(uuid.uuid4()) if target == GHOST else self.base[target]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp: Path = tmp_path_factory.mktemp("authz")
    async with running_manager(tmp, scheduler_interval=60.0) as harness:
        tenants = await add_tenants(harness)
        base = {}
        for name in sorted(TENANTS):
            base[name] = (await tenants.create_session(name, f"base-{name}"))["sessionId"]
        yield World(tenants, base)


# An endpoint's answer: ("ok", detail) when the action was carried out, or
# ("denied", "<status> <code>") when it was refused.
Outcome = tuple[str, str]


def _rest(status: int, body: Any, ok_status: int) -> Outcome:
    if status == ok_status:
        return ("ok", "")
    assert isinstance(body, dict) and status in (403, 404), (status, body)
    return ("denied", f"{status} {body['type'].rsplit('/', 1)[-1]}")


def _gql(body: dict[str, Any], field_name: str) -> Outcome:
    if body["errors"]:
        [error] = body["errors"]
        return ("denied", error["extensions"]["code"])
    value = body["data"][field_name]
    return ("ok", "") if value is not None else ("denied", "null")


async def _session_read_gql(w: World, actor: str, target: str) -> Outcome:
    q = "query($id: UUID!) { compute_session(id: $id) { session_id } }"
    return _gql(await w.t.gql(actor, q, {"id": w.session_id(target)}), "compute_session")


async def _session_read_rest(w: World, actor: str, target: str) -> Outcome:
    url = f"/session/base-{target}?owner_access_key={w.key(target)}"
    return _rest(*await w.t.call(actor, "GET", url), 200)


async def _session_events(w: World, actor: str, target: str) -> Outcome:
    url = f"/events/session?sessionName=base-{target}&ownerAccessKey={w.key(target)}"
    headers = w.t.stream_headers(actor, url)
    async with w.t.harness.client.get(url, headers=headers) as resp:
        if resp.status == 200:
            assert resp.headers["Content-Type"] == "text/event-stream"
            return ("ok", "")
        return _rest(resp.status, await resp.json(), 200)


async def _session_create(w: World, actor: str, target: str) -> Outcome:
    domain = "default" if target == GHOST else w.t[target].domain
    body = create_body(f"made-{next(w.made)}", domain, w.key(target))
    return _rest(*await w.t.call(actor, "POST", "/session", body), 201)


async def _session_use(w: World, actor: str, target: str) -> Outcome:
    url = f"/session/base-{target}/logs?owner_access_key={w.key(target)}"
    status, body = await w.t.call(actor, "GET", url)
    if status == 200:
        assert body == {"result": {"logs": ""}}
    return _rest(status, body, 200)


async def _terminate(w: World, actor: str, target: str, forced: bool) -> Outcome:
    name = f"victim-{next(w.made)}"
    victim = None if target == GHOST else (await w.t.create_session(target, name))["sessionId"]
    url = f"/session/{name}?owner_access_key={w.key(target)}" + ("&forced=true" if forced else "")
    outcome = _rest(*await w.t.call(actor, "DELETE", url), 200)
    if victim is not None:  # the real effect, read as a superadmin
        q = "query($id: UUID!) { compute_session(id: $id) { status } }"
        body = await w.t.gql("superadmin", q, {"id": victim})
        status = body["data"]["compute_session"]["status"]
        assert status == ("CANCELLED" if outcome[0] == "ok" else "PENDING")
    return outcome


async def _session_terminate(w: World, actor: str, target: str) -> Outcome:
    return await _terminate(w, actor, target, forced=False)


async def _session_force(w: World, actor: str, target: str) -> Outcome:
    return await _terminate(w, actor, target, forced=True)


async def _keypair_read(w: World, actor: str, target: str) -> Outcome:
    q = "query($k: String) { keypair(access_key: $k) { access_key } }"
    return _gql(await w.t.gql(actor, q, {"k": w.key(target)}), "keypair")


async def _keypair_secret(w: World, actor: str, target: str) -> Outcome:
    q = "query($k: String) { keypair(access_key: $k) { access_key secret_key } }"
    body = await w.t.gql(actor, q, {"k": w.key(target)})
    outcome = _gql(body, "keypair")
    if outcome[0] == "denied":
        return outcome
    secret = body["data"]["keypair"]["secret_key"]
    if secret is None:
        return ("denied", "null secret")
    assert secret == w.t[target].secret_key
    return ("ok", "")


async def _user_read(w: World, actor: str, target: str) -> Outcome:
    q = "query($e: String) { user(email: $e) { email } }"
    email = "ghost@example.com" if target == GHOST else w.t[target].email
    return _gql(await w.t.gql(actor, q, {"e": email}), "user")


async def _group_read(w: World, actor: str, target: str) -> Outcome:
    q = "query($id: UUID!) { group(id: $id) { id } }"
    gid = str(uuid.uuid4()) if target == GHOST else str(w.t.groups[target])
    return _gql(await w.t.gql(actor, q, {"id": gid}), "group")


async def _domain_read(w: World, actor: str, target: str) -> Outcome:
    q = "query($n: String) { domain(name: $n) { name } }"
    return _gql(await w.t.gql(actor, q, {"n": "nosuch" if target == GHOST else target}), "domain")


PerTarget = Callable[[World, str, str], Awaitable[Outcome]]

# Each (resource, action) with an endpoint: the endpoints that must all answer alike.
PER_TARGET: dict[tuple[Resource, Action], list[PerTarget]] = {
    (Resource.SESSION, Action.READ): [_session_read_gql, _session_read_rest, _session_events],
    (Resource.SESSION, Action.CREATE): [_session_create],
    (Resource.SESSION, Action.USE): [_session_use],
    (Resource.SESSION, Action.TERMINATE): [_session_terminate],
    (Resource.SESSION, Action.FORCE_TERMINATE): [_session_force],
    (Resource.KEYPAIR, Action.READ): [_keypair_read],
    (Resource.KEYPAIR, Action.READ_SECRET): [_keypair_secret],
    (Resource.USER, Action.READ): [_user_read],
    (Resource.GROUP, Action.READ): [_group_read],
    (Resource.DOMAIN, Action.READ): [_domain_read],
}


async def _listed(w: World, actor: str, q: str, field_name: str, key: str) -> set[str] | None:
    """Who ``actor``'s listing shows (None: the listing was refused as a whole)."""
    body = await w.t.gql(actor, q, {})
    if body["errors"]:
        assert [e["extensions"]["code"] for e in body["errors"]] == ["insufficient-privilege"]
        return None
    data = body["data"][field_name]
    items = data["items"] if isinstance(data, dict) else data
    values = {str(item[key]) for item in items}
    if key == "access_key":
        return {n for n in TENANTS if w.t[n].access_key in values}
    if key == "email":
        return {n for n in TENANTS if w.t[n].email in values}
    if key == "id":
        return {g for g, gid in w.t.groups.items() if str(gid) in values}
    return values


LISTINGS: dict[Resource, tuple[str, str, str]] = {
    Resource.SESSION: ("{ compute_session_list(limit: 1000, offset: 0) { items { access_key } } }",
                       "compute_session_list", "access_key"),
    Resource.KEYPAIR: ("{ keypair_list(limit: 1000, offset: 0) { items { access_key } } }",
                       "keypair_list", "access_key"),
    Resource.USER: ("{ user_list(limit: 1000, offset: 0) { items { email } } }", "user_list",
                    "email"),
    Resource.GROUP: ("{ groups { id } }", "groups", "id"),
    Resource.DOMAIN: ("{ domains { name } }", "domains", "name"),
}  # fmt: skip

# Rows probed live in their area's own test file (each probes every role against them).
_ELSEWHERE_BY_RESOURCE = {
    Resource.POLICY: "test_authz_resources.py", Resource.PRESET: "test_authz_resources.py",
    Resource.SCALING_GROUP: "test_authz_resources.py", Resource.AGENT: "test_authz_resources.py",
    Resource.STORAGE: "test_authz_resources.py", Resource.USAGE: "test_authz_resources.py",
    Resource.IMAGE: "test_authz_images.py", Resource.VFOLDER: "test_authz_vfolders.py",
    Resource.ANNOUNCEMENT: "test_authz_operations.py", Resource.DOTFILE: "test_authz_operations.py",
    Resource.ERROR_LOG: "test_authz_operations.py", Resource.CONFIG: "test_authz_operations.py",
    Resource.MANAGER: "test_authz_operations.py",
}  # fmt: skip
PROBED_ELSEWHERE: dict[tuple[Resource, Action], str] = {
    **{
        (r, a): "test_admin_identity_authz.py"
        for r in (Resource.USER, Resource.KEYPAIR, Resource.GROUP, Resource.DOMAIN)
        for a in (Action.CREATE, Action.UPDATE, Action.DELETE)
    },
    (Resource.SESSION, Action.COMMIT): "test_authz_images.py",
    **{(r, a): f for (r, a) in ROWS if (f := _ELSEWHERE_BY_RESOURCE.get(r))},
}
# Rows that no endpoint serves yet: none.
NOT_EXPOSED: set[tuple[Resource, Action]] = set()
ENDPOINT_CASES = [
    (actor, resource, action)
    for actor in ACTORS
    for resource, action in [*PER_TARGET, *((r, Action.LIST) for r in LISTINGS)]
]


def test_every_row_is_probed_or_declared_unexposed() -> None:
    probed = set(PER_TARGET) | {(r, Action.LIST) for r in LISTINGS}
    assert set(ROWS) == probed | set(PROBED_ELSEWHERE) | NOT_EXPOSED
    assert not probed & NOT_EXPOSED and not set(PROBED_ELSEWHERE) & NOT_EXPOSED
    # Those files import this one: their probe lists are read here, not at import.
    from tests.manager.test_admin_identity_authz import PROBES as IDENTITY_PROBES
    from tests.manager.test_authz_resources import PROBES as RESOURCE_PROBES

    def rows_of(file: str) -> set[tuple[str, str]]:
        return {(str(r), str(a)) for (r, a), f in PROBED_ELSEWHERE.items() if f == file}

    assert rows_of("test_authz_resources.py") == set(RESOURCE_PROBES)
    assert rows_of("test_admin_identity_authz.py") == {(str(r), str(a)) for r, a in IDENTITY_PROBES}


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("actor", "resource", "action"), ENDPOINT_CASES, ids=str)
async def test_endpoint(world: World, actor: str, resource: Resource, action: Action) -> None:
    expected = expected_reach(actor, resource, action)
    if action is Action.LIST:
        q, field_name, key = LISTINGS[resource]
        listed = await _listed(world, actor, q, field_name, key)
        if not expected:
            assert listed is None  # a role that may never list is told so, not shown nothing
        else:
            assert listed == expected
        return
    targets = {"tenant": TENANTS, "group": GROUPS, "domain": {"default", "other"}}[KIND[resource]]
    for probe in PER_TARGET[(resource, action)]:
        outcomes = {t: await probe(world, actor, t) for t in sorted(targets | {GHOST})}
        allowed = {t for t, (kind, _) in outcomes.items() if kind == "ok"}
        assert allowed == expected, probe.__name__
        # What the actor may not even see is refused exactly like a thing that does not
        # exist, so the answer reveals nothing.
        unseen = targets - expected_reach(actor, resource, Action.READ) | {GHOST}
        assert len({outcomes[t] for t in unseen}) == 1, (probe.__name__, outcomes)
        assert outcomes[GHOST][0] == "denied"


# Every row probed elsewhere is also decided here, against every tenant as a target.
UNEXPOSED_CASES = [(a, r, x) for a in ACTORS for r, x in sorted({*NOT_EXPOSED,
                                                                  *PROBED_ELSEWHERE})]  # fmt: skip


@pytest.mark.parametrize(("actor", "resource", "action"), UNEXPOSED_CASES, ids=str)
def test_unexposed_rows_decide(actor: str, resource: Resource, action: Action) -> None:
    """Rows without an endpoint yet, decided for every tenant as a target."""
    role = ACTORS[actor]
    me = _Actor(uuid.uuid4(), role, "default")
    owners = {name: uuid.UUID(int=i + 1) for i, name in enumerate(sorted(TENANTS))}
    owners[actor] = me.user_uuid
    kind = KIND[resource]
    if kind == "tenant":
        targets = {n: Target.owned_by(owners[n], _DOMAIN[n], _ROLE[n]) for n in TENANTS}
    elif kind == "group":
        targets = {g: Target.group(g.split("/")[0], [me.user_uuid] if g == "default/default"
                                   else []) for g in GROUPS}  # fmt: skip
    else:
        targets = {d: Target.domain(d) for d in ("default", "other")}
    allowed = {n for n, target in targets.items() if permits(me, resource, action, target)}
    assert allowed == expected_reach(actor, resource, action)


@dataclass(frozen=True)
class _Actor:
    user_uuid: uuid.UUID
    role: UserRole
    domain_name: str


_DOMAIN = {n: ("other" if n in ("oadmin", "carol") else "default") for n in TENANTS}
_ROLE = {"superadmin": UserRole.SUPERADMIN, "dadmin": UserRole.ADMIN, "dadmin2": UserRole.ADMIN,
         "mon": UserRole.MONITOR, "demo": UserRole.USER, "bob": UserRole.USER,
         "oadmin": UserRole.ADMIN, "carol": UserRole.USER}  # fmt: skip
