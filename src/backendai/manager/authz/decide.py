"""Deciding one request against the table: may this actor do this to this thing?

Denials never tell an actor that something it may not see exists. The rule:

- a role that may never do the action (scope NONE), or only to its own things (scope OWN),
  is refused with ``PermissionDenied`` whatever the thing is, so the answer is the same for
  someone else's thing and for a thing that does not exist;
- a wider role is told "not found" (the caller's ``NotFound``) for things outside its reach,
  exactly as for things that do not exist, and ``PermissionDenied`` only for things it may
  see but not change.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from backendai.common.errors import NotFound, PermissionDenied, PlatformError
from backendai.common.statuses import UserRole
from backendai.manager.authz.table import RANK, Action, Resource, Scope, scope_of


class Actor(Protocol):
    """Who asks; ``services.auth.Principal`` is one."""

    @property
    def user_uuid(self) -> uuid.UUID: ...

    @property
    def role(self) -> UserRole: ...

    @property
    def domain_name(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Target:
    """What an action is about, as far as authorization cares."""

    domain_name: str
    # The owner's role; groups and domains have no owner and rank lowest.
    role: UserRole = UserRole.USER
    # Whose "own" it is: a session's, keypair's or user's owner; a group's members.
    owners: frozenset[uuid.UUID] = field(default_factory=frozenset)

    @classmethod
    def owned_by(cls, user_uuid: uuid.UUID, domain_name: str, role: UserRole) -> Target:
        return cls(domain_name, role, frozenset({user_uuid}))

    @classmethod
    def of_actor(cls, actor: Actor) -> Target:
        """The actor's own things (its sessions, its keypairs, itself)."""
        return cls.owned_by(actor.user_uuid, actor.domain_name, actor.role)

    @classmethod
    def group(cls, domain_name: str, members: Iterable[uuid.UUID]) -> Target:
        return cls(domain_name, UserRole.USER, frozenset(members))

    @classmethod
    def domain(cls, name: str) -> Target:
        return cls(name)


def ranks_within(role: UserRole) -> frozenset[UserRole]:
    """The owner roles a DOMAIN scope of ``role`` reaches."""
    return frozenset(r for r in UserRole if RANK[r] <= RANK[role])


def reaches(actor: Actor, scope: Scope, target: Target) -> bool:
    if scope is Scope.ALL:
        return True
    if scope >= Scope.OWN and actor.user_uuid in target.owners:
        return True
    return (
        scope is Scope.DOMAIN
        and target.domain_name == actor.domain_name
        and target.role in ranks_within(actor.role)
    )


def permits(actor: Actor, resource: Resource, action: Action, target: Target) -> bool:
    return reaches(actor, scope_of(actor.role, resource, action), target)


def denial(
    actor: Actor, resource: Resource, action: Action, *, seen: bool, missing: NotFound
) -> PlatformError:
    """The error for an actor refused ``action``; ``seen``: it may read the thing."""
    scope = scope_of(actor.role, resource, action)
    verb = action.value.replace("-", " ")
    if scope is Scope.NONE:
        return PermissionDenied(f"The {actor.role.value} role may not {verb} {resource.value}s.")
    if scope is Scope.OWN:
        return PermissionDenied(f"You may only {verb} your own {resource.value}s.")
    if seen:
        return PermissionDenied(f"You may not {verb} this {resource.value}.")
    return missing


def absent(actor: Actor, resource: Resource, action: Action, missing: NotFound) -> PlatformError:
    """The error for a thing a lookup within the actor's reach did not find: it does not
    exist, or the actor may not see it (the two must read alike)."""
    return denial(actor, resource, action, seen=False, missing=missing)


def require(
    actor: Actor,
    resource: Resource,
    action: Action,
    target: Target | None,
    missing: NotFound,
) -> Target:
    """``target`` if the actor may act on it; else the error the module's rule gives.

    ``target`` None means the thing does not exist (or could not be found by the actor)."""
    if target is not None and permits(actor, resource, action, target):
        return target
    seen = target is not None and permits(actor, resource, Action.READ, target)
    raise denial(actor, resource, action, seen=seen, missing=missing)


def require_any(actor: Actor, resource: Resource, action: Action) -> Scope:
    """The actor's scope, refusing a role that may never do the action (listings ask this)."""
    scope = scope_of(actor.role, resource, action)
    if scope is Scope.NONE:
        raise denial(actor, resource, action, seen=False, missing=NotFound())
    return scope


def require_domain(actor: Actor, resource: Resource, action: Action, domain_name: str) -> None:
    """A filter naming a domain: only ALL reaches past the actor's own domain. Answered from
    the name alone, so it says nothing about whether that domain exists."""
    scope = require_any(actor, resource, action)
    if scope is not Scope.ALL and domain_name != actor.domain_name:
        raise PermissionDenied(f"You may not look into the domain {domain_name}.")
