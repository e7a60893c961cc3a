"""Seed 003 in a real browser: the web terminal (ttyd with tmux) and Jupyter Notebook, each
opened the way seed 000 shows (``backend.ai start -t NAME IMAGE``, then ``backend.ai app``)
and used through their own web pages in Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import local_app, session
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.docker]

JUPYTER_IMAGE = "python-jupyter"  # the manager's default alias of backendai/python-jupyter
PAGE_TIMEOUT_MS = 60_000

# The terminal's lines: ttyd exposes its xterm.js Terminal as window.term; its buffer is what
# the canvas shows (the active one: tmux uses the alternate screen). The DOM renderer's rows
# are the fallback should a ttyd version stop exposing it.
TERMINAL_LINES = """() => {
  const term = window.term;
  if (term && term.buffer) {
    const buffer = term.buffer.active, lines = [];
    for (let i = 0; i < buffer.length; i++) {
      const line = buffer.getLine(i);
      lines.push(line ? line.translateToString(true) : "");
    }
    return lines;
  }
  const rows = document.querySelector(".xterm-rows");
  return rows ? rows.innerText.split("\\n") : [];
}"""


def wait_for_line(page: Page, pattern: str, timeout_ms: int = 20_000) -> list[str]:
    """Waits until a line of the terminal matches ``pattern``; returns all lines."""
    regex = re.compile(pattern)
    deadline = page.evaluate("() => Date.now()") + timeout_ms
    lines: list[str] = []
    while page.evaluate("() => Date.now()") < deadline:
        lines = page.evaluate(TERMINAL_LINES)
        if any(regex.search(line) for line in lines):
            return lines
        page.wait_for_timeout(100)
    shown = "\n".join(line for line in lines if line.strip())
    raise AssertionError(f"no terminal line matches {pattern!r}; the terminal shows:\n{shown}")


def run_in_a_new_notebook(tree: Page, code: str, printed: str) -> Page:
    """Seed 003: "Click the NEW button ... and select the Notebook for Backend.AI", then a
    cell of ``code`` must print ``printed``. ``tree`` is Jupyter's file list; returns the
    notebook's page."""
    expect(tree).to_have_url(re.compile(r"/tree"), timeout=PAGE_TIMEOUT_MS)
    tree.get_by_role("menuitem", name="New").click(timeout=PAGE_TIMEOUT_MS)
    with tree.context.expect_page(timeout=PAGE_TIMEOUT_MS) as opened:
        tree.get_by_role("menuitem", name="Backend.AI").click()
    notebook = opened.value
    expect(notebook).to_have_url(re.compile(r"/notebooks/Untitled\d*\.ipynb"))
    expect(notebook.locator(".jp-KernelName").first).to_have_text(
        "Backend.AI", timeout=PAGE_TIMEOUT_MS
    )
    notebook.locator(".jp-Notebook .jp-Cell .cm-content").first.click(timeout=PAGE_TIMEOUT_MS)
    notebook.keyboard.type(code)
    notebook.keyboard.press("Shift+Enter")
    expect(notebook.locator(".jp-OutputArea-output").first).to_have_text(
        printed, timeout=PAGE_TIMEOUT_MS
    )
    return notebook


def test_web_terminal_runs_a_command_and_opens_a_second_tmux_window(
    live_server: LiveServer, page: Page, reach: Callable[[str], str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    with (
        session(live_server, home, "python", "browser-ttyd") as name,
        local_app(live_server, home, name, "ttyd") as url,
    ):
        page.goto(reach(url), timeout=PAGE_TIMEOUT_MS)
        page.locator(".xterm").click(timeout=PAGE_TIMEOUT_MS)
        # The shell is ready once tmux draws its status line for the first window.
        wait_for_line(page, r"\b0:bash\*", PAGE_TIMEOUT_MS)
        page.keyboard.type("echo hi")
        page.keyboard.press("Enter")
        wait_for_line(page, r"^hi\s*$")  # the output line, not the echoed command
        # Seed 003, "Spawn multiple shells": Ctrl-B c opens window 1 and selects it.
        page.keyboard.press("Control+b")
        page.keyboard.press("c")
        lines = wait_for_line(page, r"\b0:bash-?\s+1:bash\*")
        assert not any(re.search(r"^hi\s*$", line) for line in lines)  # a fresh shell


def test_jupyter_notebook_runs_a_cell_on_the_backend_ai_kernel(
    live_server: LiveServer, page: Page, reach: Callable[[str], str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    with (
        session(live_server, home, JUPYTER_IMAGE, "browser-jupyter") as name,
        local_app(live_server, home, name, "jupyter") as url,
    ):
        page.goto(reach(url), timeout=PAGE_TIMEOUT_MS)
        run_in_a_new_notebook(page, "print(6*7)", "42")
