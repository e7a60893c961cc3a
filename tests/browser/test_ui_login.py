"""The web UI's login page at the webserver's root, in Chromium: a refused login said plainly,
a login that opens the Sessions page, a logout, and the page's security headers."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message

import pytest
from playwright.sync_api import Page, expect

from tests.browser.ui import PAGE_TIMEOUT_MS, account, log_in, new_user, ui_url
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow]


def test_a_wrong_password_is_refused_plainly_and_the_right_one_opens_sessions(
    live_server: LiveServer, page: Page, reach: Callable[[str], str]
) -> None:
    who = new_user(live_server, prefix="login")
    page.goto(ui_url(live_server, reach), timeout=PAGE_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Log in to Backend.AI")).to_be_visible()
    page.get_by_label("Email").fill(who.email)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("The email or password is incorrect.")
    page.get_by_label("Password").fill(who.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()
    expect(page.get_by_text(who.email)).to_be_visible()
    # A user sees no administration pages.
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to Backend.AI")).to_be_visible()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    # The cookie is gone too: a reload shows the login page again.
    page.reload()
    expect(page.get_by_role("heading", name="Log in to Backend.AI")).to_be_visible()


def test_a_locked_account_is_explained(
    live_server: LiveServer, page: Page, reach: Callable[[str], str]
) -> None:
    who = new_user(live_server, prefix="locked")
    page.goto(ui_url(live_server, reach), timeout=PAGE_TIMEOUT_MS)
    page.get_by_label("Email").fill(who.email)
    for _ in range(6):  # the webserver locks after 5 failures
        page.get_by_label("Password").fill("wrong")
        page.get_by_label("Password").press("Enter")
        expect(page.get_by_role("button", name="Log in")).to_be_enabled()
    expect(page.get_by_role("alert")).to_contain_text("locked")
    expect(page.get_by_role("alert")).to_contain_text("too many failed attempts")


def test_an_admin_sees_the_administration_pages(
    live_server: LiveServer, page: Page, reach: Callable[[str], str]
) -> None:
    log_in(page, live_server, reach, account(live_server, "superadmin"))
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Users", "Keypairs", "Resource policies", "Resource groups", "Images", "Agents"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()


def fetch(url: str) -> tuple[int, Message]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


def test_the_ui_is_served_with_a_strict_content_security_policy(live_server: LiveServer) -> None:
    base = live_server.webserver.rstrip("/")
    status, headers = fetch(base + "/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    status, headers = fetch(base + "/static/js/main.js")
    assert status == 200 and "javascript" in headers["content-type"]
    # Nothing outside the static folder is served, however the path is spelled.
    for path in ("/static/../ui.py", "/static/%2e%2e/ui.py", "/static/"):
        assert fetch(base + path)[0] in (403, 404)
