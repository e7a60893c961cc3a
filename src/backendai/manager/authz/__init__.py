"""Authorization: one table of role x resource x action -> scope, and the ways to ask it.

``table`` holds the rules; ``decide`` answers for one thing at hand (and picks the error that
reveals nothing); ``sql`` turns the rules into the WHERE clause of a listing or lookup.
"""

from backendai.manager.authz.decide import (
    Actor,
    Target,
    absent,
    denial,
    permits,
    require,
    require_any,
    require_domain,
)
from backendai.manager.authz.sql import where
from backendai.manager.authz.table import TABLE, Action, Resource, Scope, scope_of

__all__ = [
    "TABLE",
    "Action",
    "Actor",
    "Resource",
    "Scope",
    "Target",
    "absent",
    "denial",
    "permits",
    "require",
    "require_any",
    "require_domain",
    "scope_of",
    "where",
]
