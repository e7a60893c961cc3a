"""The table as SQL: which rows of a resource an actor reaches, for listings and lookups.

Each resource says, as SQL, what "the actor's own" is and what "in the actor's domain, owned by
a role no higher than the actor's" is; ``where`` combines them according to the actor's
scope, with the same meaning ``decide.reaches`` gives one thing in Python.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from backendai.manager.authz.decide import Actor, ranks_within, require_any
from backendai.manager.authz.table import Action, Resource, Scope
from backendai.manager.db.models import (
    Domain,
    ErrorLog,
    Group,
    GroupMembership,
    KeyPair,
    ScalingGroup,
    ScalingGroupForDomain,
    ScalingGroupForGroup,
    ScalingGroupForKeyPair,
    Session,
    User,
    VFolder,
    VFolderShare,
)

Condition = ColumnElement[bool]


@dataclass(frozen=True, slots=True)
class _Subject:
    own: Callable[[Actor], Condition]
    in_domain: Callable[[Actor], Condition]


def _owners_within(actor: Actor) -> sa.Select[uuid.UUID]:
    """Users of the actor's domain whose role ranks no higher than the actor's."""
    owner = aliased(User)  # never correlated with a User of the outer query
    return sa.select(owner.uuid).where(
        owner.domain_name == actor.domain_name, owner.role.in_(ranks_within(actor.role))
    )


def _groups_of(actor: Actor) -> sa.Select[uuid.UUID]:
    return sa.select(GroupMembership.group_id).where(GroupMembership.user_id == actor.user_uuid)


def _scaling_groups_of(actor: Actor) -> sa.CompoundSelect[tuple[str]]:
    """The scaling groups the actor may start sessions in: associated with its domain, one of
    its groups or one of its keypairs."""
    return sa.union(
        sa.select(ScalingGroupForDomain.scaling_group).where(
            ScalingGroupForDomain.domain == actor.domain_name
        ),
        sa.select(ScalingGroupForGroup.scaling_group).where(
            ScalingGroupForGroup.group.in_(_groups_of(actor))
        ),
        sa.select(ScalingGroupForKeyPair.scaling_group).where(
            ScalingGroupForKeyPair.access_key.in_(
                sa.select(KeyPair.access_key).where(KeyPair.user == actor.user_uuid)
            )
        ),
    )


def _scaling_groups_in(actor: Actor) -> sa.CompoundSelect[tuple[str]]:
    """The scaling groups associated with the actor's domain or a group of it."""
    return sa.union(
        sa.select(ScalingGroupForDomain.scaling_group).where(
            ScalingGroupForDomain.domain == actor.domain_name
        ),
        sa.select(ScalingGroupForGroup.scaling_group).where(
            ScalingGroupForGroup.group.in_(
                sa.select(Group.id).where(Group.domain_name == actor.domain_name)
            )
        ),
    )


def _folders_of(actor: Actor) -> Condition:
    """Folders the actor uses: its own user folders, its groups' folders, those shared with it."""
    return sa.or_(
        VFolder.user == actor.user_uuid,
        VFolder.group.in_(_groups_of(actor)),
        VFolder.id.in_(sa.select(VFolderShare.vfolder).where(VFolderShare.user == actor.user_uuid)),
    )


SUBJECTS: Mapping[Resource, _Subject] = MappingProxyType(
    {
        Resource.SESSION: _Subject(
            own=lambda a: Session.user_uuid == a.user_uuid,
            in_domain=lambda a: Session.user_uuid.in_(_owners_within(a)),
        ),
        Resource.KEYPAIR: _Subject(
            own=lambda a: KeyPair.user == a.user_uuid,
            in_domain=lambda a: KeyPair.user.in_(_owners_within(a)),
        ),
        Resource.USER: _Subject(
            own=lambda a: User.uuid == a.user_uuid,
            in_domain=lambda a: sa.and_(
                User.domain_name == a.domain_name, User.role.in_(ranks_within(a.role))
            ),
        ),
        Resource.GROUP: _Subject(
            own=lambda a: Group.id.in_(_groups_of(a)),
            in_domain=lambda a: Group.domain_name == a.domain_name,
        ),
        Resource.DOMAIN: _Subject(
            own=lambda a: sa.false(),  # nobody owns a domain; DOMAIN scope reads the actor's
            in_domain=lambda a: Domain.name == a.domain_name,
        ),
        Resource.SCALING_GROUP: _Subject(
            own=lambda a: ScalingGroup.name.in_(_scaling_groups_of(a)),
            in_domain=lambda a: ScalingGroup.name.in_(_scaling_groups_in(a)),
        ),
        Resource.VFOLDER: _Subject(
            own=_folders_of,
            in_domain=lambda a: sa.or_(
                VFolder.user.in_(_owners_within(a)),
                VFolder.group.in_(sa.select(Group.id).where(Group.domain_name == a.domain_name)),
            ),
        ),
        Resource.ERROR_LOG: _Subject(  # an entry is its request's user's; none: no user's
            own=lambda a: ErrorLog.user == a.user_uuid,
            in_domain=lambda a: ErrorLog.user.in_(_owners_within(a)),
        ),
    }
)


def where(actor: Actor, resource: Resource, action: Action) -> Condition:
    """The rows of ``resource`` the actor may do ``action`` to; refuses a role that may never
    (``PermissionDenied``), so that a listing says so instead of looking empty."""
    scope = require_any(actor, resource, action)
    if scope is Scope.ALL:
        return sa.true()
    subject = SUBJECTS[resource]
    if scope is Scope.OWN:
        return subject.own(actor)
    return sa.or_(subject.own(actor), subject.in_domain(actor))
