"""What the web UI's browser tests share: the webserver's URL as Chromium reaches it, logging
in through the login page, users of their own, and the app proxy's ports made reachable.

The UI's accessible names are its test contract (docs/web-ui.md lists them): tests find
controls by role and label, as a keyboard or screen-reader user would.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from playwright.sync_api import Page, expect

from backendai.client.config import APIConfig
from backendai.client.session import Session
from tests.compat.conftest import api_env
from tests.fixtures.live import LiveServer

PAGE_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    access_key: str = ""
    secret_key: str = ""


def ui_url(server: LiveServer, reach: Callable[[str], str]) -> str:
    """The webserver's root as the browser reaches it."""
    return reach(server.webserver.rstrip("/") + "/")


def expose_app_ports(server: LiveServer, reach: Callable[[str], str]) -> None:
    """Every port of the app proxy's pool, relayed into Chromium's namespace: an app opened
    from the UI lands on one of them."""
    first, last = (int(p) for p in server.appproxy_ports.split("-"))
    for port in range(first, last + 1):
        reach(f"http://127.0.0.1:{port}/")


def account(server: LiveServer, role: str = "demo") -> Account:
    user = server.user(role)
    return Account(user["email"], user["password"], user["access_key"], user["secret_key"])


def new_user(server: LiveServer, role: str = "user", prefix: str = "ui") -> Account:
    """A fresh user of the default domain and group (made by the superadmin through the SDK),
    with the keypair the manager gave it."""
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"
    password = f"Pw-{uuid.uuid4().hex[:12]}"
    with Session(config=APIConfig.from_env(api_env(server, "superadmin"))) as api:
        api.User.create("default", email, password, role=role)
        pairs = list(api.KeyPair.paginated_list(email=email, fields=("access_key", "secret_key")))
    pair = pairs[0] if pairs else {}
    return Account(email, password, pair.get("access_key", ""), pair.get("secret_key", ""))


def user_api(server: LiveServer, who: Account) -> Session:
    """The SDK in keypair mode as ``who``."""
    env = {
        "BACKEND_ENDPOINT_TYPE": "api",
        "BACKEND_ENDPOINT": server.endpoint,
        "BACKEND_ACCESS_KEY": who.access_key,
        "BACKEND_SECRET_KEY": who.secret_key,
    }
    return Session(config=APIConfig.from_env(env))


def remove_sessions(server: LiveServer, who: Account) -> None:
    """Every session of ``who``, ended (those already ending are left to end)."""
    with user_api(server, who) as api:
        for row in api.ComputeSession.paginated_list(fields=("name", "status")):
            with contextlib.suppress(Exception):
                api.ComputeSession(row["name"]).destroy()


@contextmanager
def user_with_folder(server: LiveServer, prefix: str) -> Iterator[tuple[Account, str]]:
    """A fresh user with one folder of its own; its sessions are removed at the end."""
    who = new_user(server, prefix=prefix)
    folder = f"{prefix}data-{uuid.uuid4().hex[:6]}"
    with user_api(server, who) as api:
        api.VFolder.create(folder)
    try:
        yield who, folder
    finally:
        remove_sessions(server, who)


def log_in(page: Page, server: LiveServer, reach: Callable[[str], str], who: Account) -> None:
    """The login page at the webserver's root, filled in and sent from the keyboard; waits
    for the navigation of a logged-in page."""
    page.goto(ui_url(server, reach), timeout=PAGE_TIMEOUT_MS)
    page.get_by_label("Email").fill(who.email)
    page.get_by_label("Password").fill(who.password)
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=PAGE_TIMEOUT_MS)


def go(page: Page, route: str) -> None:
    """Opens a page of the UI by its route (``sessions``, ``data``, ``admin/users``, ...)
    through the navigation's link, as a user would."""
    page.evaluate("(r) => { window.location.hash = '#/' + r; }", route)
    expect(page.get_by_role("main")).not_to_contain_text("Loading…", timeout=PAGE_TIMEOUT_MS)
