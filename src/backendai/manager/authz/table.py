"""The authorization table: for each role, resource and action, how far the role reaches.

This table is the only statement of who may do what. Handlers and resolvers ask it through
``authz.decide`` (one thing at hand) or ``authz.sql`` (a query's rows); none of them looks at
a role itself. A (resource, action) pair that has no row here is refused to every role.

Scopes, from narrow to wide:

- ``NONE``: never.
- ``OWN``: the actor's own things (its sessions, keypairs and user; the groups it belongs to).
- ``DOMAIN``: its own things, and the things of its domain whose owner's role ranks no higher
  than the actor's own (a domain admin reaches users and admins, never a superadmin).
- ``ALL``: everything, in every domain.

Roles (``UserRole``): a superadmin runs the platform; an admin runs one domain; a user works in
its own sessions; a monitor is a user that may also look at (never change, never enter) the
whole platform, as a dashboard or an operator on call would. A monitor reads other people's
session metadata, users and keypairs but never a secret key, nor what is inside a session.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum
from types import MappingProxyType

from backendai.common.statuses import UserRole


class Resource(StrEnum):
    SESSION = "session"
    KEYPAIR = "keypair"
    USER = "user"
    GROUP = "group"
    DOMAIN = "domain"
    POLICY = "policy"  # keypair resource policies
    PRESET = "preset"  # resource presets
    SCALING_GROUP = "scaling-group"  # and its associations with domains, groups, keypairs
    AGENT = "agent"  # and the scheduler's include/exclude
    IMAGE = "image"  # list, rescan, alias; a private one's owner is its committer
    STORAGE = "storage"  # storage volumes (hosts)
    VFOLDER = "vfolder"  # virtual folders; owners: its user, its group's members, its sharees
    USAGE = "usage"  # usage statistics per period
    ANNOUNCEMENT = "announcement"
    DOTFILE = "dotfile"  # user (keypair), group or domain dotfiles
    ERROR_LOG = "error-log"  # server-logs
    CONFIG = "config"  # the shared configuration (admin etcd)
    MANAGER = "manager"  # manager status, freeze, unfreeze


class Action(StrEnum):
    LIST = "list"  # enumerate (admin listings, ps)
    READ = "read"  # one thing named by its id, and its metadata; event streams about it
    READ_SECRET = "read-secret"  # a keypair's secret key
    CREATE = "create"  # a session on someone's behalf (owner_access_key); a user, a keypair
    USE = "use"  # what happens inside a session: code, files, logs, apps, restart
    UPDATE = "update"
    TERMINATE = "terminate"
    FORCE_TERMINATE = "force-terminate"  # end a session without waiting for its agent
    DELETE = "delete"
    COMMIT = "commit"  # a session's container into a new private image


class Scope(IntEnum):
    NONE = 0
    OWN = 1
    DOMAIN = 2
    ALL = 3


# How far one role ranks above another where a domain admin's reach is decided. A monitor
# ranks above an admin: managing a monitor (a new keypair, a password) would hand a domain
# admin the monitor's platform-wide view.
RANK: Mapping[UserRole, int] = MappingProxyType(
    {UserRole.USER: 0, UserRole.ADMIN: 1, UserRole.MONITOR: 2, UserRole.SUPERADMIN: 3}
)

COLUMNS = (UserRole.SUPERADMIN, UserRole.ADMIN, UserRole.MONITOR, UserRole.USER)

NONE, OWN, DOMAIN, ALL = Scope.NONE, Scope.OWN, Scope.DOMAIN, Scope.ALL

# fmt: off
ROWS: Mapping[tuple[Resource, Action], tuple[Scope, Scope, Scope, Scope]] = MappingProxyType({
    #                                             superadmin admin   monitor user
    (Resource.SESSION, Action.LIST):              (ALL,      DOMAIN, ALL,    OWN),
    (Resource.SESSION, Action.READ):              (ALL,      DOMAIN, ALL,    OWN),
    (Resource.SESSION, Action.CREATE):            (ALL,      DOMAIN, OWN,    OWN),
    (Resource.SESSION, Action.USE):               (ALL,      DOMAIN, OWN,    OWN),
    (Resource.SESSION, Action.TERMINATE):         (ALL,      DOMAIN, OWN,    OWN),
    (Resource.SESSION, Action.FORCE_TERMINATE):   (ALL,      DOMAIN, NONE,   NONE),

    (Resource.KEYPAIR, Action.LIST):              (ALL,      DOMAIN, ALL,    OWN),
    (Resource.KEYPAIR, Action.READ):              (ALL,      DOMAIN, ALL,    OWN),
    (Resource.KEYPAIR, Action.READ_SECRET):       (ALL,      OWN,    OWN,    OWN),
    (Resource.KEYPAIR, Action.CREATE):            (ALL,      DOMAIN, NONE,   NONE),
    (Resource.KEYPAIR, Action.UPDATE):            (ALL,      DOMAIN, NONE,   NONE),
    (Resource.KEYPAIR, Action.DELETE):            (ALL,      DOMAIN, NONE,   NONE),

    (Resource.USER, Action.LIST):                 (ALL,      DOMAIN, ALL,    OWN),
    (Resource.USER, Action.READ):                 (ALL,      DOMAIN, ALL,    OWN),
    (Resource.USER, Action.CREATE):               (ALL,      DOMAIN, NONE,   NONE),
    (Resource.USER, Action.UPDATE):               (ALL,      DOMAIN, NONE,   NONE),
    (Resource.USER, Action.DELETE):               (ALL,      DOMAIN, NONE,   NONE),

    (Resource.GROUP, Action.LIST):                (ALL,      DOMAIN, ALL,    OWN),
    (Resource.GROUP, Action.READ):                (ALL,      DOMAIN, ALL,    OWN),
    (Resource.GROUP, Action.CREATE):              (ALL,      DOMAIN, NONE,   NONE),
    (Resource.GROUP, Action.UPDATE):              (ALL,      DOMAIN, NONE,   NONE),
    (Resource.GROUP, Action.DELETE):              (ALL,      DOMAIN, NONE,   NONE),

    # Everyone reads its own domain (a domain has no owner, so DOMAIN is "the actor's").
    (Resource.DOMAIN, Action.LIST):               (ALL,      NONE,   ALL,    NONE),
    (Resource.DOMAIN, Action.READ):               (ALL,      DOMAIN, ALL,    DOMAIN),
    (Resource.DOMAIN, Action.CREATE):             (ALL,      NONE,   NONE,   NONE),
    (Resource.DOMAIN, Action.UPDATE):             (ALL,      NONE,   NONE,   NONE),
    (Resource.DOMAIN, Action.DELETE):             (ALL,      NONE,   NONE,   NONE),

    # Platform-wide things have no owner: DOMAIN and OWN reach none of them, ALL all.
    # (Who reads a policy is decided by who reads the keypair it is attached to.)
    (Resource.POLICY, Action.LIST):               (ALL,      ALL,    ALL,    NONE),
    (Resource.POLICY, Action.CREATE):             (ALL,      NONE,   NONE,   NONE),
    (Resource.POLICY, Action.UPDATE):             (ALL,      NONE,   NONE,   NONE),
    (Resource.POLICY, Action.DELETE):             (ALL,      NONE,   NONE,   NONE),

    (Resource.PRESET, Action.LIST):               (ALL,      ALL,    ALL,    ALL),
    (Resource.PRESET, Action.CREATE):             (ALL,      NONE,   NONE,   NONE),
    (Resource.PRESET, Action.UPDATE):             (ALL,      NONE,   NONE,   NONE),
    (Resource.PRESET, Action.DELETE):             (ALL,      NONE,   NONE,   NONE),

    # A scaling group is "of" the domains, groups and keypairs associated with it: DOMAIN
    # reaches those of the actor's domain, OWN those the actor may start sessions in.
    (Resource.SCALING_GROUP, Action.LIST):        (ALL,      DOMAIN, ALL,    OWN),
    (Resource.SCALING_GROUP, Action.CREATE):      (ALL,      NONE,   NONE,   NONE),
    (Resource.SCALING_GROUP, Action.UPDATE):      (ALL,      NONE,   NONE,   NONE),
    (Resource.SCALING_GROUP, Action.DELETE):      (ALL,      NONE,   NONE,   NONE),

    (Resource.AGENT, Action.LIST):                (ALL,      NONE,   ALL,    NONE),
    (Resource.AGENT, Action.READ):                (ALL,      NONE,   ALL,    NONE),
    (Resource.AGENT, Action.UPDATE):              (ALL,      NONE,   NONE,   NONE),

    # Public images are everyone's (ALL); a private one is its owner's and its group's
    # (OWN: target.owners), and a domain admin's within its domain.
    (Resource.IMAGE, Action.LIST):                (ALL,      DOMAIN, ALL,    OWN),
    (Resource.IMAGE, Action.USE):                 (ALL,      DOMAIN, OWN,    OWN),
    (Resource.IMAGE, Action.CREATE):              (ALL,      NONE,   NONE,   NONE),
    (Resource.IMAGE, Action.UPDATE):              (ALL,      NONE,   NONE,   NONE),
    (Resource.IMAGE, Action.DELETE):              (ALL,      DOMAIN, NONE,   OWN),
    # Committing a session: its owner too, where its keypair's policy allows (checked
    # apart from this table).
    (Resource.SESSION, Action.COMMIT):            (ALL,      DOMAIN, OWN,    OWN),

    (Resource.STORAGE, Action.LIST):              (ALL,      ALL,    ALL,    NONE),
    # A folder's "own" people are its owner, its group's members and those it is shared with;
    # how much each of them may do inside it is the folder's permission (ro, rw, wd), checked
    # by services/vfolder_access.py on top of this table. A group folder is created by admins.
    (Resource.VFOLDER, Action.LIST):              (ALL,      DOMAIN, ALL,    OWN),
    (Resource.VFOLDER, Action.READ):              (ALL,      DOMAIN, OWN,    OWN),
    (Resource.VFOLDER, Action.CREATE):            (ALL,      DOMAIN, NONE,   NONE),
    (Resource.VFOLDER, Action.USE):               (ALL,      DOMAIN, OWN,    OWN),
    (Resource.VFOLDER, Action.UPDATE):            (ALL,      DOMAIN, OWN,    OWN),
    (Resource.VFOLDER, Action.DELETE):            (ALL,      DOMAIN, OWN,    OWN),
    (Resource.USAGE, Action.LIST):                (ALL,      DOMAIN, ALL,    NONE),

    (Resource.ANNOUNCEMENT, Action.READ):         (ALL,      ALL,    ALL,    ALL),
    (Resource.ANNOUNCEMENT, Action.UPDATE):       (ALL,      NONE,   NONE,   NONE),

    # User dotfiles are a keypair's (OWN), group ones a group's members' to read and its
    # domain admin's to change, domain ones the domain's.
    (Resource.DOTFILE, Action.LIST):              (ALL,      DOMAIN, OWN,    OWN),
    (Resource.DOTFILE, Action.READ):              (ALL,      DOMAIN, OWN,    OWN),
    (Resource.DOTFILE, Action.CREATE):            (ALL,      DOMAIN, OWN,    OWN),
    (Resource.DOTFILE, Action.UPDATE):            (ALL,      DOMAIN, OWN,    OWN),
    (Resource.DOTFILE, Action.DELETE):            (ALL,      DOMAIN, OWN,    OWN),

    # An error is "owned" by the user whose request it was.
    (Resource.ERROR_LOG, Action.LIST):            (ALL,      DOMAIN, ALL,    OWN),
    (Resource.ERROR_LOG, Action.UPDATE):          (ALL,      DOMAIN, NONE,   OWN),

    (Resource.CONFIG, Action.READ):               (ALL,      NONE,   NONE,   NONE),
    (Resource.CONFIG, Action.UPDATE):             (ALL,      NONE,   NONE,   NONE),
    (Resource.CONFIG, Action.DELETE):             (ALL,      NONE,   NONE,   NONE),

    (Resource.MANAGER, Action.READ):              (ALL,      ALL,    ALL,    ALL),
    (Resource.MANAGER, Action.UPDATE):            (ALL,      NONE,   NONE,   NONE),
})
# fmt: on

TABLE: Mapping[tuple[UserRole, Resource, Action], Scope] = MappingProxyType(
    {
        (role, resource, action): scopes[i]
        for (resource, action), scopes in ROWS.items()
        for i, role in enumerate(COLUMNS)
    }
)


def scope_of(role: UserRole, resource: Resource, action: Action) -> Scope:
    """How far ``role`` may do ``action`` on ``resource``; NONE where the table is silent."""
    return TABLE.get((role, resource, action), Scope.NONE)
