"""What a committed image is configured with: its source image's configuration, not the
container's.

Docker's commit merges the container's configuration into whatever configuration it is given:
every label and environment variable of the container that the given one lacks is copied into
the image. A session's container carries the agent's labels (kernel, session, warm pool) and
the session's environment (its ids, the user's ``-e`` variables), none of which may reach a
new image: a later container of it would look like the old kernel's (or a pool member) to an
agent, and a user's variables would be baked in. Docker cannot drop a key it merges, so every
such key is given an empty value: empty labels match no label filter of ours, and every
container sets its own variables over the image's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The parts of an image's configuration a commit carries over from the source image.
_KEPT = ("Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "StopSignal")


def _env_key(item: str) -> str:
    return item.split("=", 1)[0]


def commit_config(
    image_config: Mapping[str, Any],
    container_config: Mapping[str, Any],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """The configuration to commit with: the source image's (``image_config``), plus
    ``labels``, with every other key of the container's (``container_config``) emptied."""
    config: dict[str, Any] = {k: image_config[k] for k in _KEPT if image_config.get(k)}
    image_labels = dict(image_config.get("Labels") or {})
    merged = {k: "" for k in container_config.get("Labels") or {} if k not in image_labels}
    config["Labels"] = merged | image_labels | dict(labels)
    env = list(image_config.get("Env") or [])
    known = {_env_key(item) for item in env}
    env += [
        f"{key}="
        for key in dict.fromkeys(_env_key(i) for i in container_config.get("Env") or [])
        if key not in known
    ]
    config["Env"] = env
    return config


def split_reference(image: str) -> tuple[str, str]:
    """``repo/name:tag`` -> (``repo/name``, ``tag``); ``latest`` without a tag."""
    head, _, last = image.rpartition("/")
    name, sep, tag = last.partition(":")
    repository = f"{head}/{name}" if head else name
    return repository, tag if sep else "latest"
