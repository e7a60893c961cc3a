"""The body of ``POST /session``, key by key, in the order Backend.AI's client 20.09 sends it.

One table for both ends: the SDK writes the body from it (without importing pydantic, which
would cost the CLI's ``run`` a tenth of a second at start), and the server's model
(``common/session_request.py``) takes its aliases from it; a test checks that the model dumps
exactly these keys in this order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (Python name, key on the wire)
CREATE_KEYS: tuple[tuple[str, str], ...] = (
    ("tag", "tag"),
    ("name", "name"),
    ("config", "config"),
    ("cluster_size", "clusterSize"),
    ("cluster_mode", "clusterMode"),
    ("starts_at", "starts_at"),
    ("bootstrap_script", "bootstrap_script"),
    ("owner_access_key", "owner_access_key"),
    ("domain", "domain"),
    ("group", "group"),
    ("type", "type"),
    ("enqueue_only", "enqueueOnly"),
    ("max_wait_seconds", "maxWaitSeconds"),
    ("reuse_if_exists", "reuseIfExists"),
    ("startup_command", "startupCommand"),
    ("image", "image"),
    # Ours, sent only when used: Backend.AI's client has none of them.
    ("dependencies", "dependencies"),
    ("priority", "priority"),
    ("count", "count"),
)
CONFIG_KEYS: tuple[tuple[str, str], ...] = (
    ("mounts", "mounts"),
    ("environ", "environ"),
    ("resources", "resources"),
    ("resource_opts", "resource_opts"),
    ("scaling_group", "scalingGroup"),
    ("mount_map", "mount_map"),
    ("preopen_ports", "preopen_ports"),
)
OPTIONAL = frozenset({"dependencies", "priority", "count"})
WIRE = dict(CREATE_KEYS) | dict(CONFIG_KEYS)


def create_body(fields: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The body from Python names: every key of 20.09's body (``None`` where unset), ours only
    when given."""
    unknown = (set(fields) - set(dict(CREATE_KEYS))) | (set(config) - set(dict(CONFIG_KEYS)))
    if unknown:
        raise KeyError(f"not part of POST /session: {sorted(unknown)}")
    body: dict[str, Any] = {}
    for name, key in CREATE_KEYS:
        if name == "config":
            body[key] = {k: config.get(n) for n, k in CONFIG_KEYS}
        elif name not in OPTIONAL or name in fields:
            body[key] = fields.get(name)
    return body
