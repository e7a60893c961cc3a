"""The issue's journey in one go, as a user of the web UI makes it: launch a session through
the wizard with an environment variable and a mounted folder, see it RUNNING, run a command
in its web terminal, run a cell in its Jupyter, read its logs, terminate it and find it under
FINISHED. The pieces have tests of their own (test_ui_wizard, test_ui_session_actions); this
one checks that they make one working path."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_apps import run_in_a_new_notebook, wait_for_line
from tests.browser.ui import Account, expose_app_ports, go, log_in, user_with_folder
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.docker]

TIMEOUT_MS = 60_000
RUNNING_TIMEOUT_MS = 180_000


@pytest.fixture
def traveller(live_server: LiveServer) -> Iterator[tuple[Account, str]]:
    with user_with_folder(live_server, "journey") as made:
        yield made


def test_wizard_to_terminal_jupyter_logs_and_finished(
    live_server: LiveServer,
    page: Page,
    reach: Callable[[str], str],
    traveller: tuple[Account, str],
    artifacts: Path,
) -> None:
    who, folder = traveller
    name = f"trip-{uuid.uuid4().hex[:6]}"
    expose_app_ports(live_server, reach)
    log_in(page, live_server, reach, who)
    go(page, "sessions")

    # The wizard: Jupyter's image, a name, a variable, the folder.
    page.get_by_role("button", name="START").click()
    wizard = page.get_by_role("dialog", name="Start a new session")
    wizard.get_by_label("Environment", exact=True).select_option(label="python-jupyter")
    wizard.get_by_label("Session name", exact=True).fill(name)
    wizard.get_by_role("button", name="CONFIG").click()
    variables = page.get_by_role("dialog", name="Environment variables")
    variables.get_by_label("Variable name 1").fill("GREETING")
    variables.get_by_label("Value 1").fill("journey-ok")
    variables.get_by_role("button", name="SAVE").click()
    wizard.get_by_role("button", name="Next").click()
    wizard.get_by_role("checkbox", name=folder, exact=True).check()
    wizard.get_by_role("button", name="CONFIRM AND LAUNCH").click()
    expect(wizard).to_be_hidden(timeout=TIMEOUT_MS)

    row = page.locator(f'tr[data-session-name="{name}"][data-status="RUNNING"]')
    expect(row).to_be_visible(timeout=RUNNING_TIMEOUT_MS)
    page.screenshot(path=str(artifacts / "journey-running.png"), full_page=True)

    # The web terminal, in a window of its own: the variable and the folder are there.
    with page.expect_popup(timeout=TIMEOUT_MS) as opened:
        row.get_by_role("button", name=f"Terminal of {name}").click()
    terminal = opened.value
    terminal.locator(".xterm").click(timeout=TIMEOUT_MS)
    wait_for_line(terminal, r"\b0:bash\*", TIMEOUT_MS)
    terminal.keyboard.type(f'echo "$GREETING" && test -d ~/{folder} && echo "mounted {folder}"')
    terminal.keyboard.press("Enter")
    wait_for_line(terminal, r"^journey-ok\s*$")
    wait_for_line(terminal, rf"^mounted {folder}\s*$")
    terminal.screenshot(path=str(artifacts / "journey-terminal.png"), full_page=True)
    terminal.close()

    # Jupyter, in a window of its own: a cell runs on the session's kernel.
    with page.expect_popup(timeout=TIMEOUT_MS) as opened:
        row.get_by_role("button", name=f"Jupyter of {name}").click()
    jupyter = opened.value
    notebook = run_in_a_new_notebook(
        jupyter, "import os; print(os.environ['GREETING'] + '/' + str(6 * 7))", "journey-ok/42"
    )
    notebook.screenshot(path=str(artifacts / "journey-jupyter.png"), full_page=True)
    notebook.close()
    jupyter.close()

    # The logs, then the end: terminated, found under FINISHED, without a reload.
    row.get_by_role("button", name=f"Logs of {name}").click()
    logs = page.get_by_role("dialog", name=f"Logs of {name}")
    expect(logs.locator("pre")).to_contain_text(re.compile(r"\S"), timeout=TIMEOUT_MS)
    logs.get_by_role("button", name="Close").first.click()
    row.get_by_role("button", name=f"Terminate {name}").click()
    page.get_by_role("dialog", name="Terminate session").get_by_role("button", name="OKAY").click()
    expect(page.locator(f'tr[data-session-name="{name}"]')).to_have_count(0, timeout=TIMEOUT_MS)
    page.get_by_role("tab", name="FINISHED").click()
    expect(page.locator(f'tr[data-session-name="{name}"]')).to_have_attribute(
        "data-status", "TERMINATED", timeout=TIMEOUT_MS
    )
    page.screenshot(path=str(artifacts / "journey-finished.png"), full_page=True)
