"""The login state of session mode, kept between CLI runs.

``$XDG_STATE_HOME/backend.ai/cookie.json`` (default ``~/.local/state/backend.ai/``) holds the
webserver's login cookies and the user name, written with mode 0600::

    {"username": "user@example.com", "endpoint": "http://webserver:8090",
     "cookies": [{"name": "AIOHTTP_SESSION", "value": "...", "path": "/"}]}

The cookies are sent to whatever endpoint is configured, like the official client does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

COOKIE_FILE = "cookie.json"


def state_dir() -> Path:
    """Where the CLI keeps its state (``$XDG_STATE_HOME/backend.ai``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "backend.ai"


@dataclass
class LoginState:
    """The cookies and user name of one webserver login."""

    username: str = ""
    endpoint: str = ""
    cookies: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_response_cookies(
        cls, cookies: SimpleCookie, *, username: str, endpoint: str
    ) -> LoginState:
        return cls(
            username=username,
            endpoint=endpoint,
            cookies={name: morsel.value for name, morsel in cookies.items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "endpoint": self.endpoint,
            "cookies": [{"name": k, "value": v, "path": "/"} for k, v in self.cookies.items()],
        }


def cookie_path(directory: Path | None = None) -> Path:
    return (directory or state_dir()) / COOKIE_FILE


def load(directory: Path | None = None) -> LoginState | None:
    """The saved login, or None when there is none (or the file is unreadable)."""
    try:
        doc = json.loads(cookie_path(directory).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    cookies = {
        str(c["name"]): str(c["value"])
        for c in doc.get("cookies", [])
        if isinstance(c, dict) and "name" in c and "value" in c
    }
    return LoginState(
        username=str(doc.get("username", "")),
        endpoint=str(doc.get("endpoint", "")),
        cookies=cookies,
    )


def save(state: LoginState, directory: Path | None = None) -> Path:
    path = cookie_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(state.to_json(), f, indent=2)
    tmp.replace(path)
    return path


def clear(directory: Path | None = None) -> None:
    cookie_path(directory).unlink(missing_ok=True)
