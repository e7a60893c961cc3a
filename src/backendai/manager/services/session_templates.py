"""Session templates (API_CONTRACT §7): stored per user, optionally shared with a group.

Who reaches a template:

- its owner (the user it was created for) and admins whose reach covers that owner (the same
  reach as creating a session on the owner's behalf: a domain admin in its domain, a superadmin
  everywhere) may read, update, delete and start it;
- when it was created with a group, that group's members may list, read and start it, but
  not change it (403, they can see it);
- everyone else is told ``task-template-not-found``, exactly as for an id that does not exist.

A template is checked as a whole before it is stored (create and update alike): its shape
(``session_template_spec``), that its image exists for the owner, and that the owner may
mount each of its folders at the path it gives. Deleting only deactivates it (as Backend.AI
does), so a deleted template answers 404 like an unknown one.

``start-template`` is ``POST /session`` with the template's values as defaults: see
``session_from_template``.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backendai.common.errors import (
    InvalidRequest,
    KeypairNotFound,
    PermissionDenied,
    PlatformError,
    TemplateNotFound,
)
from backendai.common.session_request import CreateSessionRequest
from backendai.manager import authz
from backendai.manager.authz import Action, Resource, Scope, Target
from backendai.manager.authz.decide import ranks_within
from backendai.manager.db.models import Group, KeyPair, SessionTemplate, User
from backendai.manager.services import images
from backendai.manager.services.auth import Principal
from backendai.manager.services.session_checks import Owner, load_owner, resolve_group
from backendai.manager.services.session_lookup import session_owner
from backendai.manager.services.session_template_request import CreateFromTemplateRequest
from backendai.manager.services.session_template_spec import (
    TaskTemplate,
    git_snippet,
    parse_template,
    template_problem,
)
from backendai.manager.services.vfolder_access import group_ids
from backendai.manager.services.vfolder_mounts import owner_principal, resolve_mounts

MAX_LISTED = 1000  # newest first; a listing stays bounded however many templates exist
MASK = "********"


def _missing(template_id: str) -> TemplateNotFound:
    return TemplateNotFound(f"No session template {template_id[:64]!r}.")


async def _owner_of_user(db: AsyncSession, user_uuid: uuid.UUID) -> Owner:
    """A template's owner as a session owner (its first active keypair), to check the
    template's image and folders for the owner even when an admin updates it."""
    row = (
        await db.execute(
            sa.select(KeyPair, User)
            .join(User, User.uuid == KeyPair.user)
            .where(KeyPair.user == user_uuid, KeyPair.is_active.is_(True))
            .order_by(KeyPair.created_at)
            .limit(1)
        )
    ).one_or_none()
    if row is None:
        raise KeypairNotFound("The template's owner has no active keypair to check it for.")
    kp, user = row
    return Owner(kp.access_key, user.uuid, user.email, user.role, user.domain_name,
                 kp.resource_policy)  # fmt: skip


async def _check_for_owner(
    db: AsyncSession, caller: Principal, owner: Owner, tpl: TaskTemplate
) -> None:
    """The template's image and folders, as its owner would start it."""
    who = owner_principal(caller, owner)
    try:
        await images.resolve(db, tpl.spec.kernel.image, who)
    except PlatformError as e:
        raise template_problem(
            "spec.kernel.image", f"unknown image {tpl.spec.kernel.image!r}"
        ) from e
    for name, path in tpl.spec.mounts.items():
        try:
            await resolve_mounts(db, who, [name], {name: path} if path else {})
        except PlatformError as e:
            raise template_problem(f"spec.mounts.{name}", str(e)) from e
    try:
        mount_map = {k: v for k, v in tpl.spec.mounts.items() if v}
        await resolve_mounts(db, who, list(tpl.spec.mounts), mount_map)
    except PlatformError as e:
        raise template_problem("spec.mounts", str(e)) from e


def _listed(
    t: SessionTemplate, email: str, group: str | None, principal: Principal
) -> dict[str, Any]:
    return {
        "name": t.name, "id": t.id, "created_at": t.created_at.isoformat(),
        "is_owner": t.user_uuid == principal.user_uuid, "user": str(t.user_uuid),
        "group": str(t.group_id) if t.group_id else None, "user_email": email,
        "group_name": group, "domain_name": t.domain_name, "type": t.type,
    }  # fmt: skip


class SessionTemplateService:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._db = db

    async def create(
        self,
        principal: Principal,
        payload: str,
        *,
        domain_name: str | None,
        group_name: str | None,
        owner_access_key: str | None,
    ) -> tuple[str, uuid.UUID]:
        """The new template's id and its owner's uuid."""
        tpl = await asyncio.to_thread(parse_template, payload)  # pure-Python YAML: not here
        async with self._db() as db, db.begin():
            owner = await load_owner(db, principal, owner_access_key)
            group_id = None
            if group_name:
                group_id = await resolve_group(db, owner, domain_name, group_name)
            elif domain_name and domain_name != owner.domain_name:
                raise InvalidRequest(
                    f"The user {owner.email} does not belong to the domain {domain_name}."
                )
            await _check_for_owner(db, principal, owner, tpl)
            row = SessionTemplate(
                id=uuid.uuid4().hex, domain_name=owner.domain_name, group_id=group_id,
                user_uuid=owner.user_uuid, type="TASK", name=tpl.metadata.name,
                template=tpl.normalized(),
            )  # fmt: skip
            db.add(row)
        return row.id, owner.user_uuid

    async def list(self, principal: Principal, *, all_: bool) -> list[dict[str, Any]]:
        async with self._db() as db:
            mine = await group_ids(db, principal.user_uuid)
            query = (
                sa.select(SessionTemplate, User.email, Group.name)
                .join(User, User.uuid == SessionTemplate.user_uuid)
                .outerjoin(Group, Group.id == SessionTemplate.group_id)
                .where(SessionTemplate.is_active.is_(True))
                .order_by(SessionTemplate.created_at.desc())
                .limit(MAX_LISTED)
            )
            reachable = sa.or_(
                SessionTemplate.user_uuid == principal.user_uuid,
                SessionTemplate.group_id.in_(mine),
            )
            scope = authz.scope_of(principal.role, Resource.SESSION, Action.CREATE)
            if all_ and scope is Scope.DOMAIN:
                reachable = sa.or_(
                    reachable,
                    sa.and_(
                        SessionTemplate.domain_name == principal.domain_name,
                        User.role.in_(ranks_within(principal.role)),
                    ),
                )
            if not (all_ and scope is Scope.ALL):
                query = query.where(reachable)
            rows = (await db.execute(query)).all()
        return [_listed(t, email, group, principal) for t, email, group in rows]

    async def _find(
        self,
        db: AsyncSession,
        principal: Principal,
        template_id: str,
        owner_access_key: str | None,
        *,
        change: bool = False,
    ) -> tuple[SessionTemplate, bool]:
        """The template and whether the caller may change it (owner or admin); 404 for one
        the caller may not see, 403 for a group member's change."""
        if owner_access_key:
            await session_owner(db, principal, owner_access_key, Action.READ)
        row = (
            await db.execute(
                sa.select(SessionTemplate, User.role)
                .join(User, User.uuid == SessionTemplate.user_uuid)
                .where(SessionTemplate.id == template_id, SessionTemplate.is_active.is_(True))
            )
        ).one_or_none()
        if row is None:
            raise _missing(template_id)
        tpl, role = row
        manages = tpl.user_uuid == principal.user_uuid or authz.permits(
            principal, Resource.SESSION, Action.CREATE,
            Target.owned_by(tpl.user_uuid, tpl.domain_name, role),
        )  # fmt: skip
        if not manages:
            shared = tpl.group_id is not None and tpl.group_id in await group_ids(
                db, principal.user_uuid
            )
            if not shared:
                raise _missing(template_id)
            if change:
                raise PermissionDenied(
                    "Only the template's owner or an admin may change it; it is shared with "
                    "your group for reading and starting."
                )
        return tpl, manages

    async def get(
        self, principal: Principal, template_id: str, owner_access_key: str | None
    ) -> dict[str, Any]:
        """The normalized template; a git password only for those who may change it."""
        async with self._db() as db:
            tpl, manages = await self._find(db, principal, template_id, owner_access_key)
        doc = copy.deepcopy(tpl.template)
        git = doc.get("spec", {}).get("kernel", {}).get("git", {})
        if not manages and isinstance(git.get("credential"), dict):
            git["credential"] = dict(git["credential"], password=MASK)
        return doc

    async def update(
        self, principal: Principal, template_id: str, payload: str, owner_access_key: str | None
    ) -> None:
        tpl = await asyncio.to_thread(parse_template, payload)  # pure-Python YAML: not here
        async with self._db() as db, db.begin():
            row, _ = await self._find(db, principal, template_id, owner_access_key, change=True)
            owner = await _owner_of_user(db, row.user_uuid)
            await _check_for_owner(db, principal, owner, tpl)
            row.name = tpl.metadata.name
            row.template = tpl.normalized()

    async def delete(
        self, principal: Principal, template_id: str, owner_access_key: str | None
    ) -> None:
        async with self._db() as db, db.begin():
            row, _ = await self._find(db, principal, template_id, owner_access_key, change=True)
            row.is_active = False

    async def session_from_template(
        self, principal: Principal, req: CreateFromTemplateRequest
    ) -> CreateSessionRequest:
        """``POST /session``'s request: the template's values, overridden by the request's."""
        async with self._db() as db:
            row, _ = await self._find(db, principal, req.template_id, None)
            group_name = None
            if row.group_id is not None:
                group_name = await db.scalar(sa.select(Group.name).where(Group.id == row.group_id))
        tpl = TaskTemplate.model_validate(row.template)
        merged = merge(tpl, req, domain=row.domain_name, group=group_name)
        try:
            return CreateSessionRequest.model_validate(merged)
        except ValidationError as e:
            fields = {".".join(str(p) for p in err["loc"]): err["msg"] for err in e.errors()}
            summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
            raise InvalidRequest(f"Invalid parameters: {summary}", data=fields) from e


def merge(
    tpl: TaskTemplate, req: CreateFromTemplateRequest, *, domain: str, group: str | None
) -> dict[str, Any]:
    """The session request a template and a ``create-from-template`` request make.

    Values the request gives win; those it leaves out come from the template. ``environ`` and
    ``resources`` given empty (``--no-env``, ``--no-resource``) blank the template's, given
    with entries they are added to (and win over) the template's. Mounts are the template's
    unless the request sends ``mount_map`` (``-m`` or ``--no-mount``): client 20.9.9 always
    sends ``mounts: []``. The git clone runs first, then the bootstrap script (the request's,
    else the template's), so that the script can use the clone.
    """
    spec, kernel, cfg = tpl.spec, tpl.spec.kernel, req.config
    environ = dict(kernel.environ)
    if cfg.environ is not None:
        environ = environ | cfg.environ if cfg.environ else {}
    resources: dict[str, Any] = dict(spec.resources)
    if cfg.resources is not None:
        resources = resources | cfg.resources if cfg.resources else {}
    if cfg.mount_map is None and not cfg.mounts:
        mounts = list(spec.mounts)
        mount_map = {k: v for k, v in spec.mounts.items() if v}
    else:
        mounts, mount_map = list(cfg.mounts or []), dict(cfg.mount_map or {})
    run = kernel.run
    script = req.bootstrap_script or (run.bootstrap if run else None)
    if kernel.git is not None:
        script = git_snippet(kernel.git) + (script or "")
    given = req.model_dump(exclude_unset=True, exclude={"template_id", "config"})
    config: dict[str, Any] = {
        "mounts": mounts, "mount_map": mount_map, "environ": environ, "resources": resources,
        "resource_opts": cfg.resource_opts or {},
        "scalingGroup": cfg.scaling_group or spec.scaling_group,
        "preopen_ports": cfg.preopen_ports or [],
    }  # fmt: skip
    merged: dict[str, Any] = {
        "image": kernel.image,
        "type": spec.session_type,
        "tag": tpl.metadata.tag,
        "startupCommand": run.startup_command if run else None,
        **{k: v for k, v in given.items() if v is not None},
        "domain": req.domain or domain,
        "group": req.group or group,
        "bootstrap_script": script,
        "config": config,
    }
    if "startup_command" in merged:
        merged["startupCommand"] = merged.pop("startup_command")
    return merged
