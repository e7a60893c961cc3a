"""The web UI's infrastructure admin pages in Chromium: resource groups (create, edit,
associate, delete, a refusal), images (aliases, rescan), agents (capacity and live occupancy
as a session starts), announcements (the banner a fresh login sees), and who may see them."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from backendai.client.config import APIConfig
from backendai.client.session import Session
from tests.browser.conftest import session
from tests.browser.ui import PAGE_TIMEOUT_MS, account, go, log_in, new_user
from tests.compat.conftest import api_env
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow]

REFRESH_TIMEOUT_MS = 30_000  # the agents page polls every 5 s
AGENTS = (
    'query { agent_list(limit: 10, offset: 0, status: "ALIVE") { items { id available_slots } } }'
)


def superadmin_api(server: LiveServer) -> Session:
    return Session(config=APIConfig.from_env(api_env(server, "superadmin")))


def format_bytes(value: float) -> str:
    """dom.js's formatBytes: what the page prints for a byte count."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    n, i = float(value), 0
    while abs(n) >= 1024 and i < len(units) - 1:
        n, i = n / 1024, i + 1
    return f"{int(n)} B" if i == 0 else f"{n:.{2 if n < 10 else 1}f} {units[i]}"


def format_number(value: str) -> str:
    n = float(value)
    return str(int(n)) if n.is_integer() else f"{n:.2f}".rstrip("0").rstrip(".")


@pytest.fixture
def admin_page(page: Page, live_server: LiveServer, reach: Callable[[str], str]) -> Page:
    log_in(page, live_server, reach, account(live_server, "superadmin"))
    return page


def test_resource_groups_are_created_edited_associated_and_deleted(
    admin_page: Page, live_server: LiveServer, artifacts: Path
) -> None:
    page = admin_page
    go(page, "admin/resource-groups")
    expect(page.get_by_role("heading", name="Resource groups", exact=True)).to_be_visible()
    expect(page.locator('tr[data-resource-group="default"]')).to_contain_text("fifo")

    name = f"ui-rg-{uuid.uuid4().hex[:8]}"
    page.get_by_role("button", name="Add resource group").click()
    dialog = page.get_by_role("dialog", name="Add resource group")
    dialog.get_by_role("button", name="CREATE").click()  # no name yet: said before any request
    expect(dialog.get_by_text("Enter a name")).to_be_visible()
    dialog.get_by_label("Name", exact=True).fill(name)
    dialog.get_by_label("Description").fill("made by the UI test")
    dialog.get_by_role("button", name="CREATE").click()
    expect(dialog).to_be_hidden()
    row = page.locator(f'tr[data-resource-group="{name}"]')
    expect(row).to_contain_text("made by the UI test")

    page.get_by_role("button", name=f"Edit {name}").click()
    dialog = page.get_by_role("dialog", name=f"Edit resource group {name}")
    dialog.get_by_label("Description").fill("edited in the UI")
    dialog.get_by_label("Scheduler options (JSON)").fill("{not json")
    dialog.get_by_role("button", name="SAVE").click()
    expect(dialog.get_by_text("Not valid JSON")).to_be_visible()
    dialog.get_by_label("Scheduler options (JSON)").fill("{}")
    dialog.get_by_label("Active").uncheck()
    dialog.get_by_role("button", name="SAVE").click()
    expect(dialog).to_be_hidden()
    expect(row).to_contain_text("edited in the UI")
    expect(row).to_contain_text("inactive")

    page.get_by_role("button", name=f"Associations of {name}").click()
    dialog = page.get_by_role("dialog", name=f"Associations of {name}")
    dialog.get_by_label("Domain default").check()
    expect(page.get_by_text(f"The domain default may use {name}.")).to_be_visible()
    group = dialog.get_by_label("Group default (default)")
    expect(group).not_to_be_checked()
    group.check()
    expect(page.get_by_text(f"The group default (default) may use {name}.")).to_be_visible()
    dialog.get_by_role("button", name="Close", exact=True).first.click()
    expect(row.locator("td.infra-domains")).to_have_text("default")
    # Opened again, the dialog shows what the server has: both associations.
    page.get_by_role("button", name=f"Associations of {name}").click()
    dialog = page.get_by_role("dialog", name=f"Associations of {name}")
    expect(dialog.get_by_label("Domain default")).to_be_checked()
    expect(dialog.get_by_label("Group default (default)")).to_be_checked()
    dialog.get_by_label("Group default (default)").uncheck()
    expect(page.get_by_text(f"The group default (default) no longer uses {name}.")).to_be_visible()
    dialog.get_by_role("button", name="Close", exact=True).first.click()
    page.screenshot(path=str(artifacts / "ui-admin-resource-groups.png"), full_page=True)

    # The server's refusal is shown: the default group still has the live agent.
    page.get_by_role("button", name="Delete default", exact=True).click()
    page.get_by_role("dialog", name="Delete resource group").get_by_role(
        "button", name="DELETE"
    ).click()
    expect(page.get_by_role("alert").filter(has_text="was not deleted")).to_contain_text("agents")
    expect(page.locator('tr[data-resource-group="default"]')).to_be_visible()

    page.get_by_role("button", name=f"Delete {name}").click()
    page.get_by_role("dialog", name="Delete resource group").get_by_role(
        "button", name="DELETE"
    ).click()
    expect(row).to_have_count(0)
    with superadmin_api(live_server) as api:
        assert name not in [g["name"] for g in api.ScalingGroup.list(fields=("name",))]


def python_image(server: LiveServer) -> dict[str, Any]:
    with superadmin_api(server) as api:
        images = api.Image.list(fields=("name", "tag", "registry", "aliases"))
    return next(i for i in images if "python" in i["aliases"])


def test_images_show_aliases_take_a_new_one_and_rescan(
    admin_page: Page, live_server: LiveServer, artifacts: Path
) -> None:
    page = admin_page
    image = python_image(live_server)
    full = f"{image['name']}:{image['tag']}"
    go(page, "admin/images")
    row = page.locator(f'tr[data-image="{full}"]')
    expect(row.get_by_role("button", name="Remove alias python", exact=True)).to_be_visible()

    alias = f"ui-alias-{uuid.uuid4().hex[:8]}"
    row.get_by_role("button", name=f"Add alias to {full}").click()
    dialog = page.get_by_role("dialog", name=f"Alias of {full}")
    dialog.get_by_label("Alias").fill("-bad alias")
    dialog.get_by_role("button", name="ADD").click()
    expect(dialog.get_by_text("Use only letters")).to_be_visible()
    dialog.get_by_label("Alias").fill(alias)
    dialog.get_by_role("button", name="ADD").click()
    expect(dialog).to_be_hidden()
    expect(row.get_by_role("button", name=f"Remove alias {alias}")).to_be_visible()
    assert alias in python_image(live_server)["aliases"]
    page.screenshot(path=str(artifacts / "ui-admin-images.png"), full_page=True)

    row.get_by_role("button", name=f"Remove alias {alias}").click()
    page.get_by_role("dialog", name="Remove alias").get_by_role("button", name="Remove").click()
    expect(row.get_by_role("button", name=f"Remove alias {alias}")).to_have_count(0)
    assert alias not in python_image(live_server)["aliases"]

    page.get_by_role("button", name="Rescan", exact=True).click()
    status = page.locator(".infra-status")
    expect(status).to_contain_text("Rescanned", timeout=PAGE_TIMEOUT_MS)
    expect(status).to_contain_text("1 agent(s)")
    expect(page.get_by_role("button", name="Rescan", exact=True)).to_be_enabled()
    expect(row).to_be_visible()


@pytest.mark.docker
def test_agents_show_capacity_and_follow_occupancy_live(
    admin_page: Page, live_server: LiveServer, artifacts: Path, tmp_path: Path
) -> None:
    page = admin_page
    with superadmin_api(live_server) as api:
        items = api.Admin.query(AGENTS, {})["agent_list"]["items"]
    assert items, "the live server has no ALIVE agent"
    agent = items[0]
    available = json.loads(agent["available_slots"])
    go(page, "admin/agents")
    expect(page.get_by_role("tab", name="ALIVE")).to_have_attribute("aria-selected", "true")
    row = page.locator(f'tr[data-agent-id="{agent["id"]}"]')
    expect(row).to_have_attribute("data-status", "ALIVE")
    cpu = row.get_by_role("meter", name=f"CPU of {agent['id']}")
    ram = row.get_by_role("meter", name=f"RAM of {agent['id']}")
    expect(cpu).to_have_attribute("aria-valuemax", format_number(available["cpu"]))
    expect(ram).to_have_attribute("data-available", available["mem"])
    expect(row).to_contain_text(f"of {format_number(available['cpu'])}")
    expect(row).to_contain_text(f"of {format_bytes(float(available['mem']))}")
    cpu_before = cpu.get_attribute("aria-valuenow")
    ram_before = ram.get_attribute("aria-valuenow")

    with session(live_server, tmp_path / "home", "python", "ui-infra"):
        # No reload: the page polls, and the occupancy grows by the session's share.
        expect(cpu).not_to_have_attribute(
            "aria-valuenow", cpu_before or "", timeout=REFRESH_TIMEOUT_MS
        )
        expect(ram).not_to_have_attribute(
            "aria-valuenow", ram_before or "", timeout=REFRESH_TIMEOUT_MS
        )
        assert float(cpu.get_attribute("aria-valuenow") or 0) > float(cpu_before or 0)
        # Live use: the sum of its running kernels' heartbeat counters (every 3 s).
        expect(row.locator("td.infra-live")).to_have_text(
            re.compile(r"^CPU \d+(\.\d)? % · RAM \d+(\.\d+)? (B|KiB|MiB|GiB)$"),
            timeout=REFRESH_TIMEOUT_MS,
        )
        page.screenshot(path=str(artifacts / "ui-admin-agents.png"), full_page=True)
    expect(cpu).to_have_attribute("aria-valuenow", cpu_before or "0", timeout=REFRESH_TIMEOUT_MS)

    # The tabs from the keyboard: End and Home jump to the last and the first.
    page.get_by_role("tab", name="ALIVE").focus()
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name="TERMINATED")).to_be_focused()
    expect(page.get_by_role("tab", name="TERMINATED")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_text("There are no TERMINATED agents.")).to_be_visible()
    page.keyboard.press("Home")
    expect(page.get_by_role("tab", name="ALIVE")).to_have_attribute("aria-selected", "true")
    expect(row).to_be_visible()


@pytest.fixture
def announcement_cleared(live_server: LiveServer) -> Iterator[None]:
    """The announcement is global: whatever happens, the next test finds none."""
    yield
    with superadmin_api(live_server) as api:
        api.Manager.update_announcement(enabled=False)


def test_an_announcement_reaches_a_fresh_login_and_is_cleared(
    admin_page: Page,
    live_server: LiveServer,
    browser: Browser,
    reach: Callable[[str], str],
    artifacts: Path,
    announcement_cleared: None,
) -> None:
    page = admin_page
    go(page, "admin/announcements")
    text = f"Maintenance at 18:00 {uuid.uuid4().hex[:8]}"
    page.get_by_role("button", name="SAVE").click()  # empty: said next to the field
    expect(page.get_by_text("Write the message to announce")).to_be_visible()
    page.get_by_label("Message").fill(text)
    expect(page.get_by_label("Enabled")).to_be_checked()
    page.get_by_role("button", name="SAVE").click()
    expect(page.get_by_role("region", name="Current announcement")).to_contain_text(text)
    expect(page.get_by_role("region", name="Announcement", exact=True)).to_contain_text(text)
    page.screenshot(path=str(artifacts / "ui-admin-announcements.png"), full_page=True)

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        other = context.new_page()
        log_in(other, live_server, reach, new_user(live_server, prefix="ann"))
        expect(other.get_by_role("region", name="Announcement", exact=True)).to_contain_text(text)
    finally:
        context.close()

    page.get_by_role("button", name="Clear announcement").click()
    expect(page.get_by_role("region", name="Current announcement")).to_contain_text(
        "No announcement is shown."
    )
    expect(page.get_by_role("region", name="Announcement", exact=True)).to_be_hidden()
    with superadmin_api(live_server) as api:
        assert api.Manager.announcement()["enabled"] is False


def test_a_user_has_no_infrastructure_pages_and_a_domain_admin_sees_the_refusal(
    page: Page, live_server: LiveServer, reach: Callable[[str], str], browser: Browser
) -> None:
    log_in(page, live_server, reach, new_user(live_server, prefix="infra-user"))
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Resource groups", "Images", "Agents", "Announcements"):
        expect(nav.get_by_role("link", name=name, exact=True)).to_have_count(0)
    go(page, "admin/agents")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        admin = context.new_page()
        log_in(
            admin, live_server, reach, new_user(live_server, role="admin", prefix="infra-dadmin")
        )
        go(admin, "admin/agents")
        expect(admin.get_by_role("heading", name="Agents")).to_be_visible()
        expect(admin.get_by_role("alert")).to_contain_text("may not list agents")
    finally:
        context.close()
