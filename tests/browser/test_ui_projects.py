"""The project (group) picker of the web UI's top bar: a user in several projects chooses
where sessions start, and the choice is what the wizard sends and what the statistics count."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect

from backendai.client.config import APIConfig
from backendai.client.session import Session
from tests.browser.ui import Account, go, log_in, new_user, remove_sessions, user_api
from tests.compat.conftest import api_env
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.docker]

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def member(live_server: LiveServer) -> Iterator[tuple[Account, str]]:
    """A fresh user in "default" and in a project of its own."""
    who = new_user(live_server, prefix="proj")
    project = f"proj-{uuid.uuid4().hex[:6]}"
    with Session(config=APIConfig.from_env(api_env(live_server, "superadmin"))) as admin:
        gid = admin.Group.create("default", project)["group"]["id"]
        me = admin.User.detail(who.email, fields=("uuid",))
        assert me is not None
        admin.Group.add_users(gid, [me["uuid"]])
    try:
        yield who, project
    finally:
        remove_sessions(live_server, who)
        with (
            Session(config=APIConfig.from_env(api_env(live_server, "superadmin"))) as admin,
            contextlib.suppress(Exception),  # still ending sessions keep it
        ):
            admin.Group.delete(gid)


def test_the_chosen_project_is_where_the_wizard_starts_sessions(
    live_server: LiveServer, page: Page, reach: Callable[[str], str], member: tuple[Account, str]
) -> None:
    who, project = member
    log_in(page, live_server, reach, who)
    picker = page.get_by_label("Project")
    expect(picker.locator("option")).to_have_count(2)
    expect(picker).to_have_accessible_name("Project")
    picker.select_option(label=project)
    go(page, "sessions")
    page.get_by_role("button", name="START").click()
    wizard = page.get_by_role("dialog", name="Start a new session")
    name = f"pj{uuid.uuid4().hex[:6]}"
    wizard.get_by_label("Session name").fill(name)
    wizard.get_by_role("button", name="CONFIRM AND LAUNCH").click()
    page.get_by_role("dialog", name="No folder mounted").get_by_role(
        "button", name="LAUNCH"
    ).click()
    expect(page.locator(f'tr[data-session-name="{name}"]')).to_be_visible(timeout=TIMEOUT_MS)
    with user_api(live_server, who) as api:
        rows = list(api.ComputeSession.paginated_list(fields=("name", "group_name")))
    assert {r["name"]: r["group_name"] for r in rows}[name] == project
    # The choice survives a reload.
    page.reload()  # the shell reads the user's projects before it draws the picker
    expect(page.get_by_label("Project").locator("option:checked")).to_have_text(
        project, timeout=TIMEOUT_MS
    )
