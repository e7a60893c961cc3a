"""Seed 003's per-session controls in Chromium: the web terminal and Jupyter opened from a
session's row (a new window through the app proxy), its live log, its status timeline, and
its termination; another user neither sees the session nor opens its apps."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import cli_env, ours
from tests.browser.test_apps import run_in_a_new_notebook, wait_for_line
from tests.browser.ui import PAGE_TIMEOUT_MS, Account, expose_app_ports, go, log_in, new_user
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.docker]

ROW_WAIT_MS = 20_000

# Where the Sessions page does not list rows yet, the row is built the same way it builds
# them: sessionActionButtons of the session as compute_session_list returns it.
MOUNT_ROW = """async (name) => {
  const { sessionActionButtons } = await import("/static/js/pages/session_actions.js");
  const { gql } = await import("/static/js/api.js");
  const fields = "id session_id name image status status_info service_ports type created_at";
  const mount = async () => {
    const list = `compute_session_list(limit: 50, offset: 0) { items { ${fields} } }`;
    const data = await gql(`query { ${list} }`);
    const s = data.compute_session_list.items.find((x) => x.name === name);
    if (!s) return false;
    let table = document.getElementById("h3-rows");
    if (!table) {
      table = document.createElement("table");
      table.id = "h3-rows";
      table.className = "data";
      document.querySelector("main").append(table);
    }
    const row = document.createElement("tr");
    row.dataset.sessionName = s.name;
    row.dataset.status = s.status;
    const cell = document.createElement("td");
    cell.className = "actions";
    cell.append(...sessionActionButtons(s, {}, { onChanged: () => mount() }));
    row.append(cell);
    table.replaceChildren(row);
    return true;
  };
  return mount();
}"""


@pytest.fixture(scope="module")
def owner(live_server: LiveServer) -> Account:
    return new_user(live_server, prefix="actions")


@pytest.fixture(scope="module")
def owner_env(
    live_server: LiveServer, owner: Account, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """The CLI's environment with ``owner``'s keys."""
    return cli_env(live_server, tmp_path_factory.mktemp("actions-home")) | {
        "BACKEND_ACCESS_KEY": owner.access_key,
        "BACKEND_SECRET_KEY": owner.secret_key,
    }


@pytest.fixture(scope="module")
def jupyter_session(owner_env: dict[str, str]) -> Iterator[str]:
    """A python-jupyter session of ``owner``, started with the CLI under that user's keys."""
    env = owner_env
    name = f"ui-actions-{uuid.uuid4().hex[:8]}"
    started = ours("start", "-t", name, "python-jupyter", env=env)
    assert started.returncode == 0, f"start failed:\n{started.stdout}\n{started.stderr}"
    try:
        yield name
    finally:
        ours("rm", name, env=env, timeout=120)


def session_row(page: Page, name: str, tab: str = "RUNNING") -> Locator:
    """The session's row on the Sessions page (under ``tab``), with its buttons."""
    go(page, "sessions")
    tab_button = page.get_by_role("tab", name=tab)
    if tab_button.count():
        tab_button.click()
    row = page.locator(f'tr[data-session-name="{name}"]')
    try:
        expect(row.get_by_role("button", name=f"Timeline of {name}")).to_be_visible(
            timeout=ROW_WAIT_MS
        )
    except AssertionError:
        assert page.evaluate(MOUNT_ROW, name), f"{name} is not among the user's sessions"
        expect(row.get_by_role("button", name=f"Timeline of {name}")).to_be_visible()
    return row


def test_terminal_and_jupyter_open_in_new_windows(
    live_server: LiveServer,
    page: Page,
    reach: Callable[[str], str],
    owner: Account,
    jupyter_session: str,
    artifacts: Path,
) -> None:
    name = jupyter_session
    expose_app_ports(live_server, reach)
    log_in(page, live_server, reach, owner)
    row = session_row(page, name)

    row.get_by_role("button", name=f"Apps of {name}").click()
    launcher = page.get_by_role("dialog", name=f"Apps of {name}")
    for label in ("Jupyter Notebook", "JupyterLab", "Web terminal (ttyd)", "SSH / SFTP (sshd)"):
        expect(launcher.get_by_role("button", name=label)).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(launcher.get_by_label("Open app to public")).not_to_be_checked()
    launcher.get_by_label("Try preferred port").check()
    launcher.get_by_label("Preferred port", exact=True).fill("70000")
    expect(launcher.get_by_text("A port is a whole number from 1 to 65535.")).to_be_visible()
    launcher.get_by_role("button", name="SSH / SFTP (sshd)").click()
    expect(launcher.get_by_text(f"backend.ai app {name} sshd")).to_be_visible()
    page.screenshot(path=str(artifacts / "ui-app-launcher.png"), full_page=True)
    launcher.get_by_label("Try preferred port").uncheck()
    launcher.get_by_role("button", name="Close").first.click()

    with page.expect_popup(timeout=PAGE_TIMEOUT_MS) as opened:
        row.get_by_role("button", name=f"Terminal of {name}").click()
    terminal = opened.value
    expect(terminal.locator(".xterm")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    assert terminal.evaluate("() => window.opener") is None
    terminal.locator(".xterm").click()
    wait_for_line(terminal, r"\b0:bash\*", PAGE_TIMEOUT_MS)
    terminal.keyboard.type("echo ui-$((6*7))")
    terminal.keyboard.press("Enter")
    wait_for_line(terminal, r"^ui-42\s*$")
    terminal.screenshot(path=str(artifacts / "ui-terminal.png"), full_page=True)
    terminal.close()

    with page.expect_popup(timeout=PAGE_TIMEOUT_MS) as opened:
        row.get_by_role("button", name=f"Jupyter of {name}").click()
    notebook = run_in_a_new_notebook(opened.value, "print(6*7)", "42")
    notebook.screenshot(path=str(artifacts / "ui-jupyter.png"), full_page=True)


def test_another_user_neither_sees_nor_opens_the_session(
    live_server: LiveServer, page: Page, reach: Callable[[str], str], jupyter_session: str
) -> None:
    name = jupyter_session
    log_in(page, live_server, reach, new_user(live_server, prefix="actions-other"))
    go(page, "sessions")
    page.wait_for_timeout(1000)  # the list's first answer
    expect(page.locator(f'tr[data-session-name="{name}"]')).to_have_count(0)
    expect(page.get_by_text(name)).to_have_count(0)
    status = page.evaluate(
        """async (name) => (await fetch(`/func/session/${name}/apps/ttyd`, {
             method: "POST", headers: {"Content-Type": "application/json"}, body: "{}",
           })).status""",
        name,
    )
    assert status == 404


def test_logs_timeline_and_terminate(
    live_server: LiveServer,
    page: Page,
    reach: Callable[[str], str],
    owner: Account,
    jupyter_session: str,
    artifacts: Path,
) -> None:
    name = jupyter_session
    log_in(page, live_server, reach, owner)
    row = session_row(page, name)

    row.get_by_role("button", name=f"Logs of {name}").click()
    logs = page.get_by_role("dialog", name=f"Logs of {name}")
    expect(logs.locator("pre")).to_contain_text(re.compile(r"\S"), timeout=PAGE_TIMEOUT_MS)
    expect(logs.get_by_role("button", name="Refresh")).to_be_visible()
    # Live tail: an app started now (from this page, as the owner) shows up in the open log.
    opened_status = page.evaluate(
        """async (name) => (await fetch(`/func/session/${name}/apps/jupyterlab`, {
             method: "POST", headers: {"Content-Type": "application/json"}, body: "{}",
           })).status""",
        name,
    )
    assert opened_status == 200
    expect(logs.locator("pre")).to_contain_text("started jupyterlab", timeout=PAGE_TIMEOUT_MS)
    page.screenshot(path=str(artifacts / "ui-logs.png"), full_page=True)
    logs.get_by_role("button", name="Close").first.click()
    expect(logs).to_have_count(0)

    row.get_by_role("button", name=f"Timeline of {name}").click()
    timeline = page.get_by_role("dialog", name=f"Timeline of {name}")
    entries = timeline.locator("li")
    expect(entries.first).to_contain_text("PENDING", timeout=PAGE_TIMEOUT_MS)
    expect(entries.last).to_contain_text("RUNNING")
    for entry in entries.all():
        expect(entry.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-"))
    page.screenshot(path=str(artifacts / "ui-timeline.png"), full_page=True)
    timeline.get_by_role("button", name="Close").first.click()

    row.get_by_role("button", name=f"Terminate {name}").click()
    confirm = page.get_by_role("dialog", name="Terminate session")
    expect(confirm).to_contain_text("not in a mounted folder is lost")
    page.screenshot(path=str(artifacts / "ui-terminate.png"), full_page=True)
    confirm.get_by_role("button", name="OKAY").click()
    expect(confirm).to_have_count(0, timeout=PAGE_TIMEOUT_MS)

    # The row leaves RUNNING: on the Sessions page (live), under its FINISHED tab once ended.
    expect(page.locator(f'tr[data-session-name="{name}"][data-status="RUNNING"]')).to_have_count(
        0, timeout=PAGE_TIMEOUT_MS
    )
    finished = page.get_by_role("tab", name="FINISHED")
    if finished.count():
        finished.click()
        expect(page.locator(f'tr[data-session-name="{name}"]')).to_have_attribute(
            "data-status", "TERMINATED", timeout=PAGE_TIMEOUT_MS
        )
    else:  # the Sessions page without tabs yet: the API says where the session went
        ended = page.evaluate(
            """async (name) => {
                 const { gql } = await import("/static/js/api.js");
                 for (let i = 0; i < 120; i++) {
                   const d = await gql(`query { compute_session_list(limit: 50, offset: 0,
                     status: "TERMINATED") { items { name status } } }`);
                   if (d.compute_session_list.items.some((s) => s.name === name)) return true;
                   await new Promise((r) => setTimeout(r, 500));
                 }
                 return false;
               }""",
            name,
        )
        assert ended, f"{name} did not reach TERMINATED"


def test_a_batch_sessions_task_log(
    live_server: LiveServer,
    page: Page,
    reach: Callable[[str], str],
    owner: Account,
    owner_env: dict[str, str],
) -> None:
    base = f"ui-batch-{uuid.uuid4().hex[:8]}"
    name = f"{base}-0"  # run --type batch submits a sweep: its one case is NAME-0
    ran = ours(
        "run", "--type", "batch", "-t", base, "-c", "print('task-says', 6*7)", "python",
        env=owner_env,
    )  # fmt: skip
    try:
        assert "task-says 42" in ran.stdout, f"run failed:\n{ran.stdout}\n{ran.stderr}"
        log_in(page, live_server, reach, owner)
        row = session_row(page, name, tab="FINISHED")
        expect(row.get_by_role("button", name=f"Terminate {name}")).to_have_count(0)
        expect(row.get_by_role("button", name=f"Terminal of {name}")).to_have_count(0)
        row.get_by_role("button", name=f"Logs of {name}").click()
        logs = page.get_by_role("dialog", name=f"Logs of {name}")
        logs.get_by_label("Log", exact=True).select_option("Task log")
        expect(logs.locator("pre")).to_contain_text("task-says 42", timeout=PAGE_TIMEOUT_MS)
    finally:
        ours("rm", name, env=owner_env, timeout=120)


def test_a_running_tasks_log_is_followed_from_where_it_was(
    live_server: LiveServer,
    page: Page,
    reach: Callable[[str], str],
    owner: Account,
    owner_env: dict[str, str],
) -> None:
    """While the task runs, each refresh asks from the byte the last one ended at: the log
    grows in place, nothing repeated."""
    name = f"ui-tick-{uuid.uuid4().hex[:8]}"
    command = "for i in 1 2 3 4 5 6 7 8; do echo tick-$i; sleep 1; done"
    started = ours("start", "--type", "batch", "-t", name, "-c", command, "python",
                   env=owner_env)  # fmt: skip
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        offsets: list[int] = []

        def seen(request: object) -> None:
            url = str(getattr(request, "url", ""))
            if "/session/_/logs" in url and (m := re.search(r"[?&]offset=(\d+)", url)):
                offsets.append(int(m.group(1)))

        page.on("request", seen)
        log_in(page, live_server, reach, owner)
        row = session_row(page, name)
        row.get_by_role("button", name=f"Logs of {name}").click()
        logs = page.get_by_role("dialog", name=f"Logs of {name}")
        expect(logs.locator("pre")).to_contain_text("tick-2", timeout=PAGE_TIMEOUT_MS)
        expect(logs.locator("pre")).to_contain_text("tick-8", timeout=PAGE_TIMEOUT_MS)
        text = logs.locator("pre").inner_text()
        assert [line for line in text.splitlines() if line.startswith("tick-")] == [
            f"tick-{i}" for i in range(1, 9)
        ]
        assert offsets[0] == 0 and max(offsets) > 0, offsets
        assert offsets == sorted(offsets)
    finally:
        ours("rm", name, env=owner_env, timeout=120)
