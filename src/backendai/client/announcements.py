"""Which announcement this user has seen and dismissed (``announcement dismiss``).

Kept as Backend.AI's client keeps it: ``announcement.json`` in the user's state directory,
with the SHA-256 of the last shown message and whether it was dismissed. A dismissed message is
not shown again until it changes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from backendai.client.local_state import state_dir

FILE = "announcement.json"


def _load() -> dict[str, Any] | None:
    try:
        data = json.loads((state_dir() / FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _save(state: dict[str, Any]) -> None:
    with_dir = state_dir()
    try:
        with_dir.mkdir(parents=True, exist_ok=True)
        (with_dir / FILE).write_text(json.dumps(state))
    except OSError:
        pass  # a read-only home only means the message is shown again


def should_show(message: str) -> bool:
    """True unless this very message was dismissed; records it as the last shown."""
    digest = hashlib.sha256(message.encode()).hexdigest()
    state = _load() or {"hash": "", "dismissed": False}
    show = not (state.get("hash") == digest and state.get("dismissed"))
    if state.get("hash") != digest:
        state = {"hash": digest, "dismissed": False}
    _save(state)
    return show


def dismiss() -> bool:
    """Dismiss the last shown announcement; False when none was seen yet."""
    state = _load()
    if state is None:
        return False
    _save(state | {"dismissed": True})
    return True
