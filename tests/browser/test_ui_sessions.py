"""Seed 003's Sessions page in Chromium: a session started with the CLI shows up live (no
reload) with its image and allocation and moves to FINISHED once removed; other users do not
see it, the superadmin does; the resource statistics count what it holds; 500 finished
sessions are paged by the server; a failed request shows an error instead of a blank page."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Locator, Page, Route, expect
from sqlalchemy.orm import Session as DbSession

from backendai.common.statuses import SessionResult, SessionStatus
from backendai.manager.db.models import Group, Kernel, KeyPair, ScalingGroup, Session, User
from tests.browser.conftest import cli_env, ours
from tests.browser.ui import PAGE_TIMEOUT_MS, Account, account, go, log_in, new_user
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.docker]

IMAGE = "python"
LIVE_TIMEOUT_MS = 90_000  # a session's start on a busy 2-core machine, seen through the UI
# Two heartbeats (every 3 s) give the agent's CPU %; the page polls every 5 s.
USE_TIMEOUT_MS = 15_000
BULK = 500


def user_env(server: LiveServer, home: Path, who: Account) -> dict[str, str]:
    """The CLI's environment, signed with ``who``'s keypair instead of the demo user's."""
    return cli_env(server, home) | {
        "BACKEND_ACCESS_KEY": who.access_key,
        "BACKEND_SECRET_KEY": who.secret_key,
    }


def row(page: Page, name: str) -> Locator:
    return page.locator(f'tr[data-session-name="{name}"]')


@pytest.fixture
def other_page(browser: Browser) -> Iterator[Page]:
    """A second browser context: another user logged in at the same time."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


def test_a_cli_session_shows_live_for_its_owner_and_the_superadmin_only(
    live_server: LiveServer,
    page: Page,
    other_page: Page,
    reach: Callable[[str], str],
    tmp_path: Path,
    artifacts: Path,
) -> None:
    owner = new_user(live_server, prefix="sessions")
    stranger = new_user(live_server, prefix="stranger")
    env = user_env(live_server, tmp_path / "home", owner)
    name = f"uis-{uuid.uuid4().hex[:8]}"
    later = f"uis-later-{uuid.uuid4().hex[:8]}"
    log_in(page, live_server, reach, owner)
    go(page, "sessions")
    expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="START")).to_be_visible()
    expect(page.get_by_role("tab", name="RUNNING")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_text("No running sessions.")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    page.evaluate("() => { window.__notReloaded = true; }")
    try:
        started = ours("start", "-t", name, "-r", "cpu=1", "-r", "mem=1g", IMAGE, env=env)
        assert started.returncode == 0, f"start failed:\n{started.stdout}\n{started.stderr}"
        listed = row(page, name)
        expect(listed).to_have_attribute("data-status", "RUNNING", timeout=LIVE_TIMEOUT_MS)
        expect(listed).to_contain_text(IMAGE)
        expect(listed.locator('[data-slot="cpu"]')).to_have_text("1 CPU")
        expect(listed.locator('[data-slot="mem"]')).to_have_text("1.00 GiB RAM")
        # What it uses now, from the heartbeats, without a reload: CPU % and memory of its limit.
        used = listed.locator("td.col-used")
        expect(used.locator('[data-metric="cpu"]')).to_have_text(
            re.compile(r"^CPU \d+(\.\d)? %$"), timeout=USE_TIMEOUT_MS
        )
        expect(used.locator('[data-metric="mem"]')).to_have_text(
            re.compile(r"^RAM \d+(\.\d+)? (B|KiB|MiB|GiB) of 1\.00 GiB$")
        )
        stats = page.get_by_role("region", name="Resource statistics")
        expect(stats.locator('[data-slot="CPU"] small').first).to_contain_text(
            "1 of", timeout=PAGE_TIMEOUT_MS
        )
        expect(stats.locator('[data-slot="RAM"] small').first).to_contain_text("1.00 GiB of")
        expect(stats.locator('[data-slot="Sessions"]')).to_contain_text("1")
        # A session that waits for its start time shows why, its place and when it starts.
        queued = ours(
            "start", "-t", later, "--starts-at", "1h", "--enqueue-only", IMAGE, env=env
        )  # fmt: skip
        assert queued.returncode == 0, f"start failed:\n{queued.stdout}\n{queued.stderr}"
        waiting = row(page, later)
        expect(waiting).to_have_attribute("data-status", "PENDING", timeout=LIVE_TIMEOUT_MS)
        expect(waiting).to_contain_text("waits to start at")
        expect(waiting).to_contain_text("Queue position 1")
        expect(waiting).to_contain_text("Estimated start:")
        page.screenshot(path=str(artifacts / "ui-sessions.png"), full_page=True)

        # Another user sees none of it; the superadmin sees it with its owner's email.
        log_in(other_page, live_server, reach, stranger)
        go(other_page, "sessions")
        expect(other_page.get_by_text("No running sessions.")).to_be_visible(
            timeout=PAGE_TIMEOUT_MS
        )
        expect(row(other_page, name)).to_have_count(0)
        other_page.get_by_role("button", name="Log out").click()
        log_in(other_page, live_server, reach, account(live_server, "superadmin"))
        go(other_page, "sessions")
        expect(row(other_page, name)).to_contain_text(owner.email, timeout=PAGE_TIMEOUT_MS)

        removed = ours("rm", name, env=env, timeout=120)
        assert removed.returncode == 0, f"rm failed:\n{removed.stdout}\n{removed.stderr}"
        expect(listed).to_have_count(0, timeout=LIVE_TIMEOUT_MS)
        page.get_by_role("tab", name="FINISHED").click()
        expect(row(page, name)).to_have_attribute("data-status", "TERMINATED")
        assert page.evaluate("() => window.__notReloaded === true")
    finally:
        for each in (name, later):
            ours("rm", each, env=env, timeout=120)


def insert_finished_sessions(server: LiveServer, email: str, count: int) -> None:
    """``count`` TERMINATED sessions of ``email``, each with its main kernel, written straight
    into the live server's SQLite database in one transaction."""
    engine = sa.create_engine(
        f"sqlite:///{server.data_dir / 'backendai.db'}", connect_args={"timeout": 60}
    )
    try:
        with DbSession(engine) as db, db.begin():
            user = db.scalars(sa.select(User).where(User.email == email)).one()
            group_id = db.scalars(
                sa.select(Group.id).where(
                    Group.name == "default", Group.domain_name == user.domain_name
                )
            ).one()
            scaling_group = db.scalars(sa.select(ScalingGroup.name).limit(1)).first()
            access_key = db.scalars(
                sa.select(KeyPair.access_key).where(KeyPair.user == user.uuid)
            ).first()
            now = datetime.now(UTC).replace(tzinfo=None)
            slots = {"cpu": "1", "mem": str(1024**3)}
            for i in range(count):
                ended = now - timedelta(minutes=i)
                session = Session(
                    id=uuid.uuid4(), name=f"bulk-{i:03d}", domain_name=user.domain_name,
                    group_id=group_id, user_uuid=user.uuid, access_key=access_key,
                    scaling_group_name=scaling_group, image="backendai/python:latest",
                    status=SessionStatus.TERMINATED, status_info="user-requested",
                    status_changed=ended, result=SessionResult.SUCCESS,
                    requested_slots=slots, occupying_slots=slots,
                    created_at=ended - timedelta(minutes=5), terminated_at=ended,
                )  # fmt: skip
                db.add(session)
                db.add(
                    Kernel(
                        id=uuid.uuid4(), session_id=session.id, image=session.image,
                        status=SessionStatus.TERMINATED, requested_slots=slots,
                        occupied_slots=slots, created_at=session.created_at,
                        terminated_at=ended, status_changed=ended,
                    )
                )  # fmt: skip
    finally:
        engine.dispose()


def test_five_hundred_finished_sessions_are_paged(
    live_server: LiveServer, page: Page, reach: Callable[[str], str], artifacts: Path
) -> None:
    who = new_user(live_server, prefix="bulk")
    insert_finished_sessions(live_server, who.email, BULK)
    log_in(page, live_server, reach, who)
    go(page, "sessions")
    expect(page.get_by_text("No running sessions.")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    rows = page.locator("tr[data-session-name]")
    begun = time.monotonic()
    page.get_by_role("tab", name="FINISHED").click()
    expect(rows).to_have_count(20, timeout=PAGE_TIMEOUT_MS)
    print(f"FINISHED with {BULK} sessions shown in {time.monotonic() - begun:.2f} s")
    pages = page.get_by_role("navigation", name="Session pages")
    expect(pages).to_contain_text("Page 1 of 25")
    first = set(rows.evaluate_all("rs => rs.map(r => r.dataset.sessionName)"))
    assert first == {f"bulk-{i:03d}" for i in range(20)}  # newest first
    page.screenshot(path=str(artifacts / "ui-sessions-500.png"), full_page=True)
    # From the keyboard: the focus stays on "Next page" through the page change and the polls.
    following = pages.get_by_role("button", name="Next page")
    following.focus()
    page.keyboard.press("Enter")
    expect(pages).to_contain_text("Page 2 of 25")
    expect(following).to_be_focused()
    expect(row(page, "bulk-020")).to_be_visible()
    second = set(rows.evaluate_all("rs => rs.map(r => r.dataset.sessionName)"))
    assert len(second) == 20 and not first & second
    # The page survives the live refreshes (a poll every 5 s).
    page.wait_for_timeout(6000)
    expect(pages).to_contain_text("Page 2 of 25")
    expect(following).to_be_focused()
    expect(page.get_by_role("tab", name="FINISHED")).to_have_attribute("aria-selected", "true")


def test_a_failed_request_shows_an_error_not_a_blank_page(
    live_server: LiveServer, page: Page, reach: Callable[[str], str]
) -> None:
    who = new_user(live_server, prefix="broken")
    problem = json.dumps(
        {
            "type": "https://api.backend.ai/probs/internal-server-error",
            "title": "Database exploded",
        }
    )

    def fail(route: Route) -> None:
        route.fulfill(status=500, content_type="application/problem+json", body=problem)

    page.route("**/func/admin/gql", fail)
    log_in(page, live_server, reach, who)
    go(page, "sessions")
    main = page.get_by_role("main")
    expect(main.get_by_role("alert").first).to_contain_text(
        "Database exploded", timeout=PAGE_TIMEOUT_MS
    )
    expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()
    expect(page.get_by_role("tab", name="RUNNING")).to_be_visible()
    page.unroute("**/func/admin/gql")
    main.get_by_role("button", name="Retry").click()
    expect(page.get_by_text("No running sessions.")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(main.get_by_role("alert")).to_have_count(0)
    # A refresh that fails later keeps the list and says so in a line that goes away again.
    page.route("**/func/admin/gql", fail)
    expect(main.get_by_role("alert").first).to_contain_text("Refreshing failed", timeout=15_000)
    expect(page.get_by_text("No running sessions.")).to_be_visible()
    page.unroute("**/func/admin/gql")
    expect(main.get_by_role("alert")).to_have_count(0, timeout=15_000)
