"""The admin pages for people in Chromium: a superadmin adds a user from the keyboard, the user
logs in, gets a keypair whose secret is shown once, is deactivated and can no longer log in; a
resource policy is created and deleted; a regular user finds no admin page."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.ui import PAGE_TIMEOUT_MS, account, go, log_in, new_user, ui_url
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow]


def find_user(page: Page, email: str) -> None:
    """The list is paged and shared with other tests' users: find the user by a part of its
    email, in any case (the server's filter, so across all pages)."""
    page.get_by_label("Find users").fill(email.split("@")[0].upper())
    page.get_by_label("Find users").press("Enter")
    expect(page.locator(f'tr[data-user-email="{email}"]')).to_be_visible()
    expect(page.locator("tr[data-user-email]")).to_have_count(1)


def test_a_superadmin_manages_users_keypairs_and_policies(
    live_server: LiveServer,
    page: Page,
    browser: Browser,
    reach: Callable[[str], str],
    artifacts: Path,
) -> None:
    log_in(page, live_server, reach, account(live_server, "superadmin"))
    go(page, "admin/users")
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    expect(page.locator("tr[data-user-email]").first).to_be_visible()

    email = f"uiadm-{uuid.uuid4().hex[:8]}@example.com"
    password = f"Pw-{uuid.uuid4().hex[:12]}"
    page.get_by_role("button", name="Add user").click()
    dialog = page.get_by_role("dialog", name="Add user")
    dialog.get_by_label("Email").focus()
    # Filled from the keyboard: each Tab lands on the next field.
    for text in (email, password, email.split("@")[0], "UI Admin Test"):
        page.keyboard.type(text)
        page.keyboard.press("Tab")
    expect(dialog.get_by_label("Full name")).to_have_value("UI Admin Test")
    expect(dialog.get_by_label("Role")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_label("Status")).to_have_value("active")
    page.screenshot(path=str(artifacts / "ui-admin-add-user.png"), full_page=True)
    dialog.get_by_role("button", name="CREATE").focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    find_user(page, email)
    row = page.locator(f'tr[data-user-email="{email}"]')
    expect(row).to_contain_text("active")
    expect(row).to_contain_text("default")
    page.screenshot(path=str(artifacts / "ui-admin-users.png"), full_page=True)

    # The new user logs in, in a browser context of its own.
    other = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        them = other.new_page()
        them.goto(ui_url(live_server, reach), timeout=PAGE_TIMEOUT_MS)
        them.get_by_label("Email").fill(email)
        them.get_by_label("Password").fill(password)
        them.get_by_label("Password").press("Enter")
        expect(them.get_by_role("heading", name="Sessions", exact=True)).to_be_visible(
            timeout=PAGE_TIMEOUT_MS
        )

        policy_name = create_policy(page, artifacts)
        access_key = create_keypair(page, artifacts, email, policy_name)

        # Edited, then deactivated: the user can no longer log in.
        go(page, "admin/users")
        find_user(page, email)
        page.get_by_role("button", name=f"Edit {email}").click()
        edit = page.get_by_role("dialog", name=f"Edit {email}")
        edit.get_by_label("Role").select_option("monitor")
        edit.get_by_role("button", name="SAVE").click()
        expect(edit).to_be_hidden()
        expect(row).to_contain_text("monitor")
        page.get_by_role("button", name=f"Deactivate {email}").click()
        page.get_by_role("dialog", name="Deactivate user").get_by_role(
            "button", name="DEACTIVATE"
        ).click()
        expect(row).to_have_attribute("data-status", "inactive")
        again = other.new_page()
        other.clear_cookies()
        again.goto(ui_url(live_server, reach), timeout=PAGE_TIMEOUT_MS)
        again.get_by_label("Email").fill(email)
        again.get_by_label("Password").fill(password)
        again.get_by_label("Password").press("Enter")
        expect(again.get_by_role("alert")).to_contain_text("incorrect")
        expect(again.get_by_role("navigation", name="Main")).to_have_count(0)
    finally:
        other.close()

    # A policy in use is not deleted (the server's reason shown); once its keypair is gone, it is.
    go(page, "admin/policies")
    delete_policy(page, policy_name)
    expect(page.get_by_role("alert").filter(has_text="still used")).to_be_visible()
    expect(page.locator(f'tr[data-policy-name="{policy_name}"]')).to_have_count(1)
    go(page, "admin/keypairs")
    page.get_by_label("User email").fill(email)
    page.get_by_label("User email").press("Enter")
    page.get_by_role("button", name=f"Delete {access_key}").click()
    page.get_by_role("dialog", name="Delete keypair").get_by_role("button", name="DELETE").click()
    expect(page.locator(f'tr[data-access-key="{access_key}"]')).to_have_count(0)
    go(page, "admin/policies")
    delete_policy(page, policy_name)
    expect(page.locator(f'tr[data-policy-name="{policy_name}"]')).to_have_count(0)


def create_policy(page: Page, artifacts: Path) -> str:
    name = f"ui-pol-{uuid.uuid4().hex[:6]}"
    go(page, "admin/policies")
    expect(page.get_by_role("heading", name="Resource policies")).to_be_visible()
    page.get_by_role("button", name="New resource policy").click()
    form = page.get_by_role("dialog", name="New resource policy")
    form.get_by_label("Name").fill(name)
    form.get_by_label("CPU (cores)").fill("2")
    form.get_by_label("RAM").fill("4g")
    form.get_by_label("Max concurrent sessions").fill("x")
    form.get_by_role("button", name="CREATE").click()
    expect(form.get_by_text("whole number")).to_be_visible()
    form.get_by_label("Max concurrent sessions").fill("3")
    form.get_by_role("button", name="CREATE").click()
    expect(form).to_be_hidden()
    policy = page.locator(f'tr[data-policy-name="{name}"]')
    expect(policy).to_contain_text("2 CPU")
    expect(policy).to_contain_text("4.00 GiB RAM")
    page.get_by_role("button", name=f"Edit {name}").click()
    edit = page.get_by_role("dialog", name=f"Edit resource policy {name}")
    expect(edit.get_by_label("RAM")).to_have_value("4g")
    edit.get_by_label("Max concurrent sessions").fill("4")
    edit.get_by_role("button", name="SAVE").click()
    expect(edit).to_be_hidden()
    expect(policy).to_contain_text("4 running")
    page.screenshot(path=str(artifacts / "ui-admin-policies.png"), full_page=True)
    return name


def delete_policy(page: Page, name: str) -> None:
    page.get_by_role("button", name=f"Delete {name}").click()
    page.get_by_role("dialog", name="Delete resource policy").get_by_role(
        "button", name="DELETE"
    ).click()


def create_keypair(page: Page, artifacts: Path, email: str, policy: str) -> str:
    """A keypair for the user under the policy; its secret is shown once, then nowhere."""
    go(page, "admin/keypairs")
    page.get_by_role("button", name="Create keypair").click()
    create = page.get_by_role("dialog", name="Create keypair")
    create.get_by_label("User email").fill(email)
    create.get_by_label("Resource policy").select_option(policy)
    create.get_by_role("button", name="CREATE").click()
    shown = page.get_by_role("dialog", name="New keypair")
    access_key = shown.get_by_label("Access key", exact=True).input_value()
    secret = shown.get_by_label("Secret key", exact=True).input_value()
    assert len(secret) >= 20
    expect(shown).to_contain_text("will not be shown again")
    page.screenshot(path=str(artifacts / "ui-admin-keypairs.png"), full_page=True)
    shown.get_by_role("button", name="I have saved it").click()
    expect(shown).to_be_hidden()
    page.get_by_label("User email").fill(email)
    page.get_by_label("User email").press("Enter")
    expect(page.locator("tr[data-access-key]")).to_have_count(2)
    expect(page.locator(f'tr[data-access-key="{access_key}"]')).to_contain_text(policy)
    assert not page.evaluate(
        "(s) => document.body.innerText.includes(s)"
        " || [...document.querySelectorAll('input')].some((i) => i.value === s)",
        secret,
    )
    return access_key


def test_a_regular_user_finds_no_admin_page(
    live_server: LiveServer, page: Page, reach: Callable[[str], str]
) -> None:
    log_in(page, live_server, reach, new_user(live_server, prefix="uinoadm"))
    go(page, "admin/users")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Users", "Keypairs", "Resource policies"):
        expect(nav.get_by_role("link", name=name)).to_have_count(0)
