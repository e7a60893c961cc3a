"""Seed 004's "Automated job scheduling" from the web UI: on a platform with 1 fGPU (the mock
CUDA plugin), the launch wizard's custom allocation of 0.4 fGPU and Sessions 3 starts three
sessions; the Sessions page shows two RUNNING and one PENDING with its reason, without a
reload; terminating a running one from its row lets the PENDING one start, again live."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_ui_wizard import TIMEOUT_MS, WIZARD
from tests.browser.ui import go, log_in, new_user, remove_sessions
from tests.fixtures.live import MOCK_GPU_AGENT_ENV, LiveServer, server_with_agent_env

pytestmark = [pytest.mark.slow, pytest.mark.docker]

RUNNING_TIMEOUT_MS = 180_000
# A marker the page keeps until it is reloaded: the list must change without one.
MARK = "() => { window.__noReload = true; }"
MARKED = "() => window.__noReload === true"


@pytest.fixture(scope="module")
def gpu_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One mock CUDA device, so 1 fGPU in all (as tests/compat/test_fractional_gpu.py)."""
    with server_with_agent_env(tmp_path_factory, "ui-fgpu-data", MOCK_GPU_AGENT_ENV) as server:
        yield server


def test_three_sessions_of_04_fgpu_from_the_wizard_queue_and_resume(
    gpu_server: LiveServer, page: Page, reach: Callable[[str], str], artifacts: Path
) -> None:
    who = new_user(gpu_server, prefix="fq")
    base = f"fq-{uuid.uuid4().hex[:6]}"
    names = [f"{base}-{i}" for i in (1, 2, 3)]
    try:
        log_in(page, gpu_server, reach, who)
        go(page, "sessions")
        page.evaluate(MARK)
        page.get_by_role("button", name="START").click()
        wizard = page.get_by_role("dialog", name=WIZARD)
        expect(wizard.get_by_label("Environment", exact=True)).to_be_focused(timeout=TIMEOUT_MS)
        wizard.get_by_label("Environment", exact=True).select_option(label="python")
        wizard.get_by_label("Session name", exact=True).fill(base)
        wizard.get_by_role("button", name="Next").click()
        wizard.get_by_role("button", name="Next").click()
        preset = wizard.get_by_label("Resource preset")
        expect(preset).to_be_visible(timeout=TIMEOUT_MS)
        preset.select_option(label="Custom allocation")
        wizard.get_by_label("fGPU", exact=True).fill("0.4")
        wizard.get_by_label("Sessions", exact=True).fill("3")
        page.screenshot(path=str(artifacts / "ui-wizard-fgpu.png"), full_page=True)
        wizard.get_by_role("button", name="CONFIRM AND LAUNCH").click()
        page.get_by_role("dialog", name="No folder mounted").get_by_role(
            "button", name="LAUNCH"
        ).click()
        expect(wizard).to_be_hidden(timeout=TIMEOUT_MS)

        rows = {n: page.locator(f'tr[data-session-name="{n}"]') for n in names}
        running = page.locator(
            ",".join(f'tr[data-session-name="{n}"][data-status="RUNNING"]' for n in names)
        )
        pending = page.locator(
            ",".join(f'tr[data-session-name="{n}"][data-status="PENDING"]' for n in names)
        )
        expect(running).to_have_count(2, timeout=RUNNING_TIMEOUT_MS)
        expect(pending).to_have_count(1, timeout=TIMEOUT_MS)
        expect(pending).to_contain_text("cuda.shares")
        expect(pending).to_contain_text("Queue position 1")
        assert page.evaluate(MARKED), "the page was reloaded"
        page.screenshot(path=str(artifacts / "ui-fgpu-pending.png"), full_page=True)
        waiting = pending.get_attribute("data-session-name")
        first = next(
            n for n in names if n != waiting and rows[n].get_attribute("data-status") == "RUNNING"
        )

        page.get_by_role("button", name=f"Terminate {first}").click()
        confirm = page.get_by_role("dialog", name="Terminate session")
        confirm.get_by_role("button", name="OKAY").click()
        expect(confirm).to_be_hidden(timeout=TIMEOUT_MS)
        expect(
            page.locator(f'tr[data-session-name="{waiting}"][data-status="RUNNING"]')
        ).to_be_visible(timeout=RUNNING_TIMEOUT_MS)
        assert page.evaluate(MARKED), "the page was reloaded"
        page.screenshot(path=str(artifacts / "ui-fgpu-resumed.png"), full_page=True)
    finally:
        with contextlib.suppress(Exception):  # the server's fixture removes containers anyway
            remove_sessions(gpu_server, who)
