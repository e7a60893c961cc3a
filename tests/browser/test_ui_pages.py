"""Every page of the web UI, in Chromium: it renders its heading with nothing failing, a
screenshot of it is saved (``page-<route>.png`` in the test artifacts), and when the API
fails underneath it the page says so instead of going blank."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.ui import PAGE_TIMEOUT_MS, account, go, log_in
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow]

# (route, heading): every page of the navigation (main.js ROUTES).
PAGES = [
    ("sessions", "Sessions"),
    ("data", "Data & Storage"),
    ("account", "My account"),
    ("admin/users", "Users"),
    ("admin/keypairs", "Keypairs"),
    ("admin/policies", "Resource policies"),
    ("admin/resource-groups", "Resource groups"),
    ("admin/images", "Images"),
    ("admin/agents", "Agents"),
    ("admin/announcements", "Announcements"),
]


def shows_no_error(page: Page) -> None:
    expect(page.locator(".error-box")).to_have_count(0)
    expect(page.locator(".toast.error")).to_have_count(0)


def test_every_page_renders_and_is_saved_as_a_screenshot(
    live_server: LiveServer, page: Page, reach: Callable[[str], str], artifacts: Path
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    log_in(page, live_server, reach, account(live_server, "superadmin"))
    for route, heading in PAGES:
        go(page, route)
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible(
            timeout=PAGE_TIMEOUT_MS
        )
        page.wait_for_load_state("networkidle")
        shows_no_error(page)
        page.screenshot(path=str(artifacts / f"page-{route.replace('/', '-')}.png"), full_page=True)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to Backend.AI")).to_be_visible()
    page.screenshot(path=str(artifacts / "page-login.png"), full_page=True)
    assert errors == [], f"uncaught errors in the pages: {errors}"


def test_a_failing_api_shows_an_error_on_every_page_never_a_blank_one(
    live_server: LiveServer, page: Page, reach: Callable[[str], str], artifacts: Path
) -> None:
    log_in(page, live_server, reach, account(live_server, "superadmin"))

    def fail(route: Route) -> None:
        route.fulfill(
            status=500,
            content_type="application/problem+json",
            body='{"type": "https://api.backend.ai/probs/internal-server-error",'
            ' "title": "Internal server error", "msg": "the test broke the manager"}',
        )

    page.route("**/func/**", fail)
    for route, heading in PAGES:
        go(page, route)
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible(
            timeout=PAGE_TIMEOUT_MS
        )
        alert = page.get_by_role("alert").filter(has_text="the test broke the manager")
        expect(alert.first).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        page.screenshot(
            path=str(artifacts / f"page-{route.replace('/', '-')}-failing.png"), full_page=True
        )


def test_leaving_a_page_or_the_login_closes_what_it_opened(
    live_server: LiveServer, page: Page, reach: Callable[[str], str]
) -> None:
    """A dialog (and its polling) never outlives its page; after a login ends, nothing of the
    last user's screen (a dialog, a message) stays over the login form."""
    log_in(page, live_server, reach, account(live_server, "demo"))
    go(page, "sessions")
    page.get_by_role("button", name="START").click()
    wizard = page.get_by_role("dialog", name="Start a new session")
    expect(wizard).to_be_visible()
    page.evaluate("() => { window.location.hash = '#/data'; }")  # Alt+Left, a bookmark
    expect(page.get_by_role("heading", name="Data & Storage", exact=True)).to_be_visible()
    expect(page.locator("dialog")).to_have_count(0)
    # Focus comes back where it was when a dialog closes.
    go(page, "sessions")
    start = page.get_by_role("button", name="START")
    start.focus()
    page.keyboard.press("Enter")
    expect(wizard).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("dialog")).to_have_count(0)
    expect(start).to_be_focused()
    # The login expires while a dialog and a message are up.
    start.click()
    expect(wizard).to_be_visible()
    page.evaluate("() => window.dispatchEvent(new CustomEvent('bai:logged-out'))")
    expect(page.get_by_role("heading", name="Log in to Backend.AI")).to_be_visible()
    expect(page.locator("dialog")).to_have_count(0)
    expect(page.get_by_text("Your login expired.")).to_be_visible()
