"""Seed 003's "Start a new session" and "How to add environment variable" in Chromium, from the
keyboard only: the launch wizard's four steps, the Environment variables dialog (with its
unsaved-changes question), a folder mounted, the session RUNNING on the Sessions page and,
inside it, the variable and the folder. Also what the wizard refuses before any request (a bad
session name), the "No folder mounted" warning, and a refusal of the server shown inside the
wizard."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from tests.browser.ui import Account, go, log_in, user_api, user_with_folder
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.docker]

TIMEOUT_MS = 60_000
RUNNING_TIMEOUT_MS = 180_000
WIZARD = "Start a new session"


@pytest.fixture(scope="module")
def wizard_user(live_server: LiveServer) -> Iterator[tuple[Account, str]]:
    """A fresh user with one folder of its own; its sessions are removed at the end."""
    with user_with_folder(live_server, "wiz") as made:
        yield made


def tab_to(page: Page, target: Locator, limit: int = 30) -> None:
    """Presses Tab until ``target`` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    expect(target).to_be_focused(timeout=1)


def open_wizard(page: Page) -> Locator:
    """START from the keyboard; the wizard opens with the focus on Environment."""
    go(page, "sessions")
    start = page.get_by_role("button", name="START")
    start.focus()
    page.keyboard.press("Enter")
    wizard = page.get_by_role("dialog", name=WIZARD)
    expect(wizard.get_by_label("Environment", exact=True)).to_be_focused(timeout=TIMEOUT_MS)
    return wizard


def test_launch_from_the_keyboard_with_a_variable_and_a_folder(
    live_server: LiveServer,
    page: Page,
    reach: Callable[[str], str],
    wizard_user: tuple[Account, str],
    artifacts: Path,
) -> None:
    who, folder = wizard_user
    name = f"wiz-{uuid.uuid4().hex[:6]}"
    log_in(page, live_server, reach, who)
    wizard = open_wizard(page)
    keys = page.keyboard

    # Step 1: the python environment (arrow keys on the select), a name, a variable.
    environment = wizard.get_by_label("Environment", exact=True)
    keys.press("ArrowDown")
    expect(environment.locator("option:checked")).to_have_text("python-jupyter")
    keys.press("ArrowUp")
    expect(environment.locator("option:checked")).to_have_text("python")
    keys.press("Tab")
    expect(wizard.get_by_label("Version", exact=True)).to_be_focused()
    keys.press("Tab")
    expect(wizard.get_by_label("Session name", exact=True)).to_be_focused()
    keys.type(name)
    keys.press("Tab")
    expect(wizard.get_by_role("button", name="CONFIG")).to_be_focused()
    keys.press("Enter")

    env = page.get_by_role("dialog", name="Environment variables")
    expect(env.get_by_label("Variable name 1")).to_be_focused(timeout=TIMEOUT_MS)
    keys.type("GREETING")
    keys.press("Tab")
    keys.type("hello-ui")
    page.screenshot(path=str(artifacts / "ui-wizard-env.png"), full_page=True)
    # Leaving with changes not saved asks first; "Keep editing" goes back to them.
    keys.press("Escape")
    question = page.get_by_role("dialog", name="Discard unsaved changes?")
    expect(question).to_be_visible()
    tab_to(page, question.get_by_role("button", name="Keep editing"))
    keys.press("Enter")
    expect(question).to_be_hidden()
    expect(env.get_by_label("Value 1")).to_have_value("hello-ui")
    tab_to(page, env.get_by_role("button", name="SAVE"))
    keys.press("Enter")
    expect(env).to_be_hidden()
    expect(wizard).to_contain_text("1 variable: GREETING")
    page.screenshot(path=str(artifacts / "ui-wizard-1.png"), full_page=True)

    # Step 2: the user's folder, checked with Space.
    tab_to(page, wizard.get_by_role("button", name="Next"))
    keys.press("Enter")
    box = wizard.get_by_role("checkbox", name=folder, exact=True)
    expect(box).to_be_visible(timeout=TIMEOUT_MS)
    expect(wizard.get_by_role("checkbox")).to_have_count(1)  # only this user's folder
    tab_to(page, box)
    keys.press("Space")
    expect(box).to_be_checked()
    page.screenshot(path=str(artifacts / "ui-wizard-2.png"), full_page=True)

    # Step 3: the defaults, with the fields the seed lists.
    tab_to(page, wizard.get_by_role("button", name="Next"))
    keys.press("Enter")
    expect(wizard.get_by_label("Resource preset")).to_be_visible(timeout=TIMEOUT_MS)
    expect(wizard.get_by_label("Resource group")).to_be_visible()
    expect(wizard.get_by_label("Sessions", exact=True)).to_have_value("1")
    page.screenshot(path=str(artifacts / "ui-wizard-3.png"), full_page=True)

    # Step 4: the summary lists the variable and the folder.
    tab_to(page, wizard.get_by_role("button", name="Next"))
    keys.press("Enter")
    summary = wizard.locator(".wizard-summary")
    expect(summary).to_contain_text("GREETING=hello-ui", timeout=TIMEOUT_MS)
    expect(summary).to_contain_text(folder)
    expect(summary).to_contain_text(name)
    page.screenshot(path=str(artifacts / "ui-wizard-4.png"), full_page=True)
    tab_to(page, wizard.get_by_role("button", name="CONFIRM AND LAUNCH"))
    keys.press("Enter")
    expect(wizard).to_be_hidden(timeout=TIMEOUT_MS)

    row = page.locator(f'tr[data-session-name="{name}"][data-status="RUNNING"]')
    expect(row).to_be_visible(timeout=RUNNING_TIMEOUT_MS)

    # Inside: the variable and the mounted folder.
    with user_api(live_server, who) as api:
        result = api.ComputeSession(name).execute(
            f"import os; print(os.environ.get('GREETING'), os.path.isdir('/home/work/{folder}'))"
        )
    out = "".join(text for kind, text in result["console"] if kind == "stdout")
    assert out.split() == ["hello-ui", "True"], result

    # A refusal of the server (the name runs another image) is shown in the wizard, which
    # keeps what was entered.
    wizard = open_wizard(page)
    wizard.get_by_label("Environment", exact=True).select_option(label="python-jupyter")
    wizard.get_by_label("Session name", exact=True).fill(name)
    wizard.get_by_role("button", name="CONFIRM AND LAUNCH").click()
    page.get_by_role("dialog", name="No folder mounted").get_by_role(
        "button", name="LAUNCH"
    ).click()
    expect(wizard.get_by_role("alert")).to_contain_text("already exists", timeout=TIMEOUT_MS)
    expect(wizard.get_by_label("Session name", exact=True)).to_have_value(name)
    keys.press("Escape")
    expect(wizard).to_be_hidden()


def test_bad_names_and_the_no_folder_warning_request_nothing(
    live_server: LiveServer,
    page: Page,
    reach: Callable[[str], str],
    wizard_user: tuple[Account, str],
    artifacts: Path,
) -> None:
    who, _ = wizard_user
    log_in(page, live_server, reach, who)
    # A second resource group (an alias of the real one) for step 3 below.
    spare = f"spare-{uuid.uuid4().hex[:6]}"
    real: list[str] = []
    failed: list[str] = []

    def groups(route: Route) -> None:
        answer = route.fetch()
        data = answer.json()
        real.extend(g["name"] for g in data["scaling_groups"])
        data["scaling_groups"].append({"name": spare})
        route.fulfill(response=answer, json=data)

    def presets(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}")
        if body.get("scaling_group") == spare:
            if not failed:  # the first load of the spare group fails, the retry works
                failed.append(spare)
                route.fulfill(status=503, json={"title": "Presets are down for a moment."})
                return
            body["scaling_group"] = real[0]
        route.continue_(post_data=json.dumps(body))

    page.route("**/func/scaling-groups*", groups)
    page.route("**/func/resource/check-presets*", presets)
    wizard = open_wizard(page)
    created: list[str] = []
    page.on(
        "request",
        lambda r: (
            created.append(r.url) if r.method == "POST" and r.url.endswith("/session") else None
        ),
    )
    field = wizard.get_by_label("Session name", exact=True)
    for bad, message in (
        ("a b c d", "Spaces"),
        ("ab", "Too short"),
        ("-bad-", "starting and ending"),
    ):
        field.fill(bad)
        wizard.get_by_role("button", name="CONFIRM AND LAUNCH").click()
        expect(field).to_be_focused()
        expect(wizard.locator("#wizard-name-error")).to_contain_text(message)
        expect(field).to_have_attribute("aria-invalid", "true")
        wizard.get_by_role("button", name="Next").click()
        expect(wizard.get_by_label("Environment", exact=True)).to_be_visible()  # still step 1
    assert created == []

    # A good name with no folder: the warning, then Cancel keeps the wizard as it was.
    field.fill(f"ok-{uuid.uuid4().hex[:6]}")
    expect(wizard.locator("#wizard-name-error")).to_have_text("")
    wizard.get_by_role("button", name="CONFIRM AND LAUNCH").click()
    warning = page.get_by_role("dialog", name="No folder mounted")
    expect(warning).to_be_visible(timeout=TIMEOUT_MS)
    page.screenshot(path=str(artifacts / "ui-wizard-nofolder.png"), full_page=True)
    warning.get_by_role("button", name="Cancel").click()
    expect(warning).to_be_hidden()
    expect(wizard).to_be_visible()
    assert created == []

    # The environment-variables dialog refuses a name a shell could not use.
    wizard.get_by_role("button", name="CONFIG").click()
    env = page.get_by_role("dialog", name="Environment variables")
    env.get_by_label("Variable name 1").fill("1BAD")
    env.get_by_role("button", name="SAVE").click()
    expect(env).to_contain_text("not starting with a digit")
    expect(env).to_be_visible()
    env.get_by_role("button", name="DELETE ALL").click()
    env.get_by_role("button", name="SAVE").click()
    expect(env).to_be_hidden()
    expect(wizard).to_contain_text("No environment variables set.")

    # The version's hint names the image as the manager does (registry host kept) and its
    # builds: POST /session cannot ask for an architecture, so none is offered.
    expect(wizard.get_by_label("Version", exact=True)).to_have_accessible_description(
        re.compile(r"^Image \S+:\S+, built for ")
    )

    # Step 3 from the keyboard: a change of resource group (each arrow key in Chrome) and a
    # Retry after a failed load keep the focus where the user is.
    wizard.get_by_role("button", name="Next").click()
    wizard.get_by_role("button", name="Next").click()
    group = wizard.get_by_label("Resource group")
    expect(group).to_be_enabled(timeout=TIMEOUT_MS)
    group.focus()
    page.keyboard.press("End")
    retry = wizard.get_by_role("button", name="Retry")
    expect(retry).to_be_focused(timeout=TIMEOUT_MS)
    expect(wizard.get_by_role("alert")).to_contain_text("Presets are down")
    page.keyboard.press("Enter")
    expect(group).to_be_focused(timeout=TIMEOUT_MS)
    expect(group).to_have_value(spare)
    page.keyboard.press("Home")
    expect(group).to_have_value(real[0])
    expect(group).to_be_focused()
    expect(wizard.get_by_label("Resource preset")).to_be_visible()
    # Every number input says its bounds.
    expect(wizard.get_by_label("Sessions", exact=True)).to_have_accessible_description(
        re.compile(r"1 to \d+")
    )
    assert created == []
