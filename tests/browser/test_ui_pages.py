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
