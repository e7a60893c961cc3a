"""The web UI's Sessions page against the API call it is built on, in the same browser.

    .venv/bin/python benchmarks/web_ui.py [--runs 10] [--sessions 500]

Starts ``backendai-server up`` (tests/fixtures/live), gives a fresh user ``--sessions``
finished sessions (written into its database, as tests/browser/test_ui_sessions.py does),
logs in through the login page in Debian's Chromium, and measures, in alternating rounds:

* the baseline: the page's own GraphQL request for one page of 20 finished sessions, sent by
  ``fetch`` from the page (the login cookie, the webserver's signing and forwarding, the
  manager's query: what no UI can be faster than);
* the UI: from a click on the FINISHED tab (RUNNING shown before) to its 20 rows drawn;
* the UI: from a click on "Next page" to the next 20 rows drawn.

Then it pages through every page once and reports the page's JavaScript heap before and
after (Chromium's ``performance.memory``, after a forced collection where available): what
500 sessions cost the tab.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import Figures, machine, report  # noqa: E402
from playwright.sync_api import Error as PlaywrightError  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from tests.browser.test_ui_sessions import insert_finished_sessions  # noqa: E402
from tests.browser.ui import Account, new_user  # noqa: E402
from tests.fixtures.live import (  # noqa: E402
    free_port,
    load_server,
    remove_containers,
    start_server,
    stop_server,
)

from backendai.server.main import local_agent_id  # noqa: E402

TIMEOUT_MS = 60_000
QUERY = """async () => {
  const t0 = performance.now();
  const r = await fetch("/func/admin/gql", {method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({query: `query { compute_session_list(limit: 20, offset: 0,
      status: "TERMINATED,CANCELLED") { total_count items { session_id name image status
      status_info occupied_slots created_at terminated_at } } }`})});
  await r.json();
  return performance.now() - t0;
}"""
HEAP = """() => { if (window.gc) window.gc();
  return performance.memory ? performance.memory.usedJSHeapSize : null; }"""


def log_in(page: Page, url: str, who: Account) -> None:
    """The login page, tried again when a load is lost: Chromium drops what is in flight
    when Docker changes the host's networks (the agent makes its spare networks at start;
    the tests run Chromium in a namespace of its own against that, tests/browser/netns.py)."""
    for attempt in range(5):
        try:
            page.goto(url, timeout=TIMEOUT_MS)
            page.get_by_label("Email").fill(who.email, timeout=10_000)
            break
        except PlaywrightError:
            if attempt == 4:
                raise
    page.get_by_label("Password").fill(who.password)
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible(
        timeout=TIMEOUT_MS
    )


# Clicks a control and counts, in the page, the milliseconds until the first row is the one
# expected, looked at every animation frame (Playwright's own waiting polls far less often).
CLICK_UNTIL = """async ([control, first]) => {
  const target = control === "FINISHED"
    ? [...document.querySelectorAll('[role="tab"]')].find((t) => t.textContent.trim() === control)
    : document.querySelector(`[aria-label="${control}"]`);
  const t0 = performance.now();
  target.click();
  for (;;) {
    await new Promise((r) => requestAnimationFrame(r));
    const row = document.querySelector("tr[data-session-name]");
    if (row && row.dataset.sessionName === first) return performance.now() - t0;
    if (performance.now() - t0 > 60000) throw new Error(`no ${first} after ${control}`);
  }
}"""


def click_until(page: Page, control: str, first_row: str) -> float:
    """Seconds from a click on ``control`` until the first row is ``first_row``."""
    return float(page.evaluate(CLICK_UNTIL, [control, first_row])) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="measured rounds (default 10)")
    parser.add_argument("--sessions", type=int, default=500, help="finished sessions")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bai-bench-ui-", dir="/tmp"))
    ports = (free_port(), free_port(), free_port())
    proc = start_server(data_dir, ports)
    try:
        server = load_server(data_dir, ports, proc.pid)
        who = new_user(server, prefix="bench")
        insert_finished_sessions(server, who.email, args.sessions)
        baseline = Figures("GraphQL: one page of 20 finished (fetch, baseline)", [])
        tab = Figures(f"FINISHED tab clicked -> 20 of {args.sessions} drawn", [])
        nxt = Figures("Next page clicked -> the next 20 drawn", [])
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), headless=True,
                args=[*CHROMIUM_FLAGS, "--js-flags=--expose-gc",
                      "--enable-precise-memory-info"],
            )  # fmt: skip
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            log_in(page, server.webserver.rstrip("/") + "/", who)
            for round_ in range(args.runs + 1):  # the first round warms up
                page.get_by_role("tab", name="RUNNING").click()
                expect(page.get_by_text("No running sessions.")).to_be_visible()
                samples = [
                    page.evaluate(QUERY) / 1000,
                    click_until(page, "FINISHED", "bulk-000"),
                    click_until(page, "Next page", "bulk-020"),
                ]
                if round_:
                    for figures, sample in zip((baseline, tab, nxt), samples, strict=True):
                        figures.samples.append(sample)
            page.get_by_role("tab", name="RUNNING").click()
            page.get_by_role("tab", name="FINISHED").click()
            before = page.evaluate(HEAP)
            pages = (args.sessions + 19) // 20
            for i in range(1, pages):
                click_until(page, "Next page", f"bulk-{i * 20:03d}")
            after = page.evaluate(HEAP)
            browser.close()
        report("The Sessions page", [baseline, tab, nxt], baseline, "ms", args.json)
        if before and after:
            print(
                f"JS heap: {before / 2**20:.1f} MiB on page 1, {after / 2**20:.1f} MiB after "
                f"paging through all {pages} pages ({args.sessions} sessions)"
            )
        print(f"median of the baseline: {statistics.median(baseline.samples) * 1000:.0f} ms; "
              f"{machine()}")  # fmt: skip
    finally:
        stop_server(proc)
        remove_containers(local_agent_id(data_dir))


if __name__ == "__main__":
    main()
