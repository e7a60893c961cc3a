"""The Data & Storage page in Chromium: a folder made from the keyboard, files uploaded through
the webserver's storage relay (tus) and downloaded back whole, renamed, moved to the trash and
restored; then shared with a second user who accepts the invitation, while a third user sees
nothing of it."""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FilePayload, Locator, Page, Route, expect

from tests.browser.ui import PAGE_TIMEOUT_MS, Account, go, log_in, new_user
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow]

MIB = 1024 * 1024


def folder_row(page: Page, name: str) -> Locator:
    return page.locator(f'tr[data-folder-name="{name}"]')


def create_folder_by_keyboard(page: Page, name: str) -> None:
    page.get_by_role("button", name="New folder").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Create a new folder")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Folder name")).to_be_focused()
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    expect(dialog).to_have_count(0, timeout=PAGE_TIMEOUT_MS)
    expect(folder_row(page, name)).to_be_visible(timeout=PAGE_TIMEOUT_MS)


def download_bytes(page: Page, file_name: str) -> bytes:
    with page.expect_download(timeout=PAGE_TIMEOUT_MS) as download:
        page.get_by_role("button", name=f"Download {file_name}").click()
    assert download.value.suggested_filename == file_name
    saved = download.value.path()
    assert saved is not None
    return Path(saved).read_bytes()


def other_user_page(
    browser: Browser, server: LiveServer, reach: Callable[[str], str], who: Account
) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    log_in(page, server, reach, who)
    go(page, "data")
    expect(page.get_by_role("heading", name="Data & Storage")).to_be_visible()
    return page


def test_folder_upload_download_rename_trash_restore(
    live_server: LiveServer, page: Page, reach: Callable[[str], str], artifacts: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    who = new_user(live_server, prefix="data")
    log_in(page, live_server, reach, who)
    # A list that fails to load says why, and Retry loads it.
    page.route(
        "**/func/folders?trash=*",
        lambda route: route.fulfill(
            status=503, content_type="application/problem+json",
            body='{"type": "https://api.backend.ai/probs/service-unavailable", '
            '"title": "busy", "msg": "The database is busy."}',
        ),
    )  # fmt: skip
    go(page, "data")
    expect(page.get_by_role("heading", name="Data & Storage", exact=True)).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("The database is busy.")
    page.unroute("**/func/folders?trash=*")
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("tabpanel")).to_contain_text("You have no folders yet")

    # A bad name is refused next to the field, before any request.
    page.get_by_role("button", name="New folder").click()
    dialog = page.get_by_role("dialog", name="Create a new folder")
    dialog.get_by_label("Folder name").fill("bad name/..")
    dialog.get_by_role("button", name="CREATE").click()
    expect(dialog.get_by_text("Use only letters, digits")).to_be_visible()
    expect(dialog.get_by_label("Folder name")).to_have_attribute("aria-invalid", "true")
    dialog.get_by_role("button", name="Cancel").click()

    name = f"data-{uuid.uuid4().hex[:6]}"
    create_folder_by_keyboard(page, name)
    # The server's refusal (the name is taken) is shown in the dialog, which stays open.
    page.get_by_role("button", name="New folder").click()
    dialog.get_by_label("Folder name").fill(name)
    dialog.get_by_role("button", name="CREATE").click()
    expect(dialog.get_by_role("alert")).to_contain_text("already exists")
    dialog.get_by_label("Folder name").press("Escape")
    expect(dialog).to_have_count(0)
    page.screenshot(path=str(artifacts / "ui-data.png"), full_page=True)

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * MIB + 123))
    note = tmp_path / "notes <b>.txt"
    note.write_text("hello from the web UI\n")
    page.get_by_role("button", name=f"Open {name}").click()
    expect(page.get_by_role("navigation", name="Path")).to_contain_text(name)
    # The "Open" button that had the focus is gone: the browser's title has it now.
    expect(page.get_by_role("heading", name=f"Folder {name}")).to_be_focused()
    page.get_by_label("Upload files").set_input_files([str(big), str(note)])
    for each in (big, note):
        expect(page.get_by_role("progressbar", name=each.name)).to_have_js_property(
            "value", 100, timeout=PAGE_TIMEOUT_MS
        )
    big_row = page.locator('tr[data-file-name="big.bin"]')
    expect(big_row).to_contain_text("3.00 MiB", timeout=PAGE_TIMEOUT_MS)
    expect(page.locator(f'tr[data-file-name="{note.name}"]')).to_contain_text(note.name)
    page.screenshot(path=str(artifacts / "ui-data-browse.png"), full_page=True)

    assert download_bytes(page, "big.bin") == big.read_bytes()

    # A file of the same name is replaced only when the user says so.
    version = tmp_path / "version.txt"
    version.write_text("the first version\n")
    page.get_by_label("Upload files").set_input_files([str(version)])
    version_row = page.locator('tr[data-file-name="version.txt"]')
    expect(version_row).to_contain_text("18 B", timeout=PAGE_TIMEOUT_MS)
    version.write_text("the second one\n")
    page.get_by_label("Upload files").set_input_files([str(version)])
    replace = page.get_by_role("dialog", name="Replace files?")
    expect(replace).to_contain_text("version.txt already exists here")
    replace.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("Nothing was uploaded.")).to_be_visible()
    assert download_bytes(page, "version.txt") == b"the first version\n"
    page.get_by_label("Upload files").set_input_files([str(version)])
    replace.get_by_role("button", name="REPLACE").click()
    expect(version_row).to_contain_text("15 B", timeout=PAGE_TIMEOUT_MS)
    assert download_bytes(page, "version.txt") == b"the second one\n"

    # A directory is uploaded with everything under it, its layout kept.
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "top.txt").write_text("top\n")
    (tree / "sub" / "deep.txt").write_text("deep down\n")
    page.get_by_label("Upload a directory").set_input_files(str(tree))
    expect(page.get_by_role("progressbar", name="tree/sub/deep.txt")).to_have_js_property(
        "value", 100, timeout=PAGE_TIMEOUT_MS
    )
    page.get_by_role("button", name="Open directory tree").click()
    expect(page.locator('tr[data-file-name="top.txt"]')).to_contain_text("4 B")
    page.get_by_role("button", name="Open directory sub").click()
    assert download_bytes(page, "deep.txt") == b"deep down\n"
    page.get_by_role("button", name=f"Go to the top of {name}").click()
    expect(page.locator('tr[data-file-name="tree"]')).to_be_visible()

    # A chunk whose request breaks is resumed from the offset the storage reports (HEAD).
    resume = tmp_path / "resume.bin"
    resume.write_bytes(os.urandom(8 * MIB + 1000))
    broken: list[str] = []

    def break_second_chunk(route: Route) -> None:
        offset = route.request.headers.get("upload-offset")
        if route.request.method == "PATCH" and offset == str(8 * MIB) and not broken:
            broken.append(route.request.url)
            route.abort("connectionreset")
            return
        route.continue_()

    page.route("**/storage/upload?**", break_second_chunk)
    page.get_by_label("Upload files").set_input_files(str(resume))
    expect(page.get_by_role("progressbar", name="resume.bin")).to_have_js_property(
        "value", 100, timeout=PAGE_TIMEOUT_MS
    )
    page.unroute("**/storage/upload?**")
    assert broken, "the second chunk's PATCH was never sent"
    expect(page.locator('tr[data-file-name="resume.bin"]')).to_contain_text("8.00 MiB")
    assert download_bytes(page, "resume.bin") == resume.read_bytes()

    # A 204 without Upload-Offset is no progress: the upload asks the storage (HEAD) where
    # it stands and resumes, instead of sending the first chunk again and again.
    asked: list[str] = []

    def no_offset_once(route: Route) -> None:
        asked.append(route.request.method)
        if route.request.method == "PATCH" and asked.count("PATCH") == 1:
            route.fulfill(status=204, headers={"Tus-Resumable": "1.0.0"})
            return
        route.continue_()

    small: FilePayload = {
        "name": "small.txt", "mimeType": "text/plain", "buffer": b"small file\n"
    }  # fmt: skip
    page.route("**/storage/upload?**", no_offset_once)
    page.get_by_label("Upload files").set_input_files(files=[small])
    expect(page.get_by_role("progressbar", name="small.txt")).to_have_js_property(
        "value", 100, timeout=PAGE_TIMEOUT_MS
    )
    page.unroute("**/storage/upload?**")
    assert asked == ["PATCH", "HEAD", "PATCH"]
    # Only the end of an upload is announced, not each percent.
    expect(page.get_by_role("region", name="Uploads").locator("[aria-live]")).to_have_text(
        "small.txt: uploaded."
    )

    # An upload whose PATCH hangs can be cancelled; nothing lands in the folder.
    held: list[Route] = []
    page.route("**/storage/upload?**", lambda route: held.append(route))
    stuck_file: FilePayload = {
        "name": "stuck.bin", "mimeType": "application/octet-stream", "buffer": b"x" * 1000
    }  # fmt: skip
    page.get_by_label("Upload files").set_input_files(files=[stuck_file])
    stuck = page.locator('li[data-upload-name="stuck.bin"]')
    expect(stuck).to_contain_text("0%", timeout=PAGE_TIMEOUT_MS)
    page.get_by_role("button", name="Cancel upload of stuck.bin").click()
    expect(stuck).to_contain_text("Cancelled")
    page.unroute("**/storage/upload?**")
    for route in held:
        with contextlib.suppress(Exception):  # the browser dropped it already
            route.abort()
    page.get_by_role("button", name="Refresh files").click()
    expect(page.locator('tr[data-file-name="resume.bin"]')).to_be_visible()
    expect(page.locator('tr[data-file-name="stuck.bin"]')).to_have_count(0)

    # Directories: made, opened, left through the breadcrumb; a file deleted after a confirm.
    page.get_by_role("button", name="New directory").click()
    page.get_by_role("dialog", name="New directory").get_by_label("Directory name").fill("sub")
    page.keyboard.press("Enter")
    # A listing that answers after the user moved on is not shown: the table keeps what
    # the breadcrumb says.
    slow: list[Route] = []
    sub_listing = re.compile(r"/files\?path=sub$")
    page.route(sub_listing, lambda route: slow.append(route))
    page.get_by_role("button", name="Open directory sub").click()
    expect(page.get_by_role("navigation", name="Path")).to_contain_text("sub")
    page.get_by_role("button", name=f"Go to the top of {name}").click()
    expect(page.locator('tr[data-file-name="resume.bin"]')).to_be_visible()
    assert slow, "the listing of sub was never asked for"
    with page.expect_response(sub_listing):
        slow[0].continue_()
    page.unroute(sub_listing)
    expect(page.get_by_role("table")).to_contain_text("resume.bin")
    expect(page.get_by_text("This directory is empty.")).to_have_count(0)
    page.get_by_role("button", name="Open directory sub").click()
    expect(page.get_by_role("navigation", name="Path")).to_contain_text("sub")
    expect(page.get_by_text("This directory is empty.")).to_be_visible()
    page.get_by_role("button", name=f"Go to the top of {name}").click()
    page.get_by_role("button", name=f"Delete {note.name}").click()
    page.get_by_role("dialog", name=f"Delete {note.name}").get_by_role(
        "button", name="DELETE"
    ).click()
    expect(page.locator(f'tr[data-file-name="{note.name}"]')).to_have_count(0)
    expect(page.locator('tr[data-file-name="sub"]')).to_be_visible()

    page.get_by_role("button", name="Back to folders").click()
    renamed = f"{name}-r"
    page.get_by_role("button", name=f"Rename {name}").click()
    rename = page.get_by_role("dialog", name=f"Rename {name}")
    rename.get_by_label("New name").fill(renamed)
    rename.get_by_label("New name").press("Enter")
    expect(folder_row(page, renamed)).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(folder_row(page, name)).to_have_count(0)

    page.get_by_role("button", name=f"Delete {renamed}").click()
    page.get_by_role("dialog", name=f"Delete {renamed}").get_by_role(
        "button", name="DELETE"
    ).click()
    expect(folder_row(page, renamed)).to_have_count(0, timeout=PAGE_TIMEOUT_MS)
    page.get_by_role("tab", name="Trash").click()
    expect(folder_row(page, renamed)).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    page.screenshot(path=str(artifacts / "ui-data-trash.png"), full_page=True)
    page.get_by_role("button", name=f"Restore {renamed}").click()
    expect(folder_row(page, renamed)).to_have_count(0, timeout=PAGE_TIMEOUT_MS)
    # Tabs from the keyboard: Home goes to the first one, End to the last.
    page.get_by_role("tab", name="Trash").press("Home")
    expect(page.get_by_role("tab", name="Folders")).to_be_focused()
    expect(page.get_by_role("tab", name="Folders")).to_have_attribute("aria-selected", "true")
    expect(folder_row(page, renamed)).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(folder_row(page, renamed)).to_contain_text(re.compile(r"11\.\d MiB"))


def test_sharing_by_invitation(
    live_server: LiveServer, page: Page, browser: Browser, reach: Callable[[str], str],
    artifacts: Path,
) -> None:  # fmt: skip
    owner = new_user(live_server, prefix="owner")
    friend = new_user(live_server, prefix="friend")
    stranger = new_user(live_server, prefix="stranger")
    log_in(page, live_server, reach, owner)
    go(page, "data")
    name = f"shared-{uuid.uuid4().hex[:6]}"
    create_folder_by_keyboard(page, name)

    page.get_by_role("button", name=f"Share {name}").click()
    share = page.get_by_role("dialog", name=f"Share {name}")
    share.get_by_role("button", name="INVITE").click()
    expect(share.get_by_text("Enter at least one email address.")).to_be_visible()
    share.get_by_label("Emails to invite").fill(friend.email)
    share.get_by_label("Permission").select_option("ro")
    share.get_by_role("button", name="INVITE").click()
    expect(share.locator(f'tr[data-share-email="{friend.email}"]')).to_contain_text(
        "Invitation pending", timeout=PAGE_TIMEOUT_MS
    )
    page.screenshot(path=str(artifacts / "ui-data-share.png"), full_page=True)
    share.get_by_role("button", name="Close").first.click()

    friend_page = other_user_page(browser, live_server, reach, friend)
    try:
        invitations = friend_page.get_by_role("region", name="Invitations")
        expect(invitations).to_contain_text(owner.email, timeout=PAGE_TIMEOUT_MS)
        invitations.get_by_role("button", name=f"Accept invitation from {owner.email}").click()
        expect(folder_row(friend_page, name)).to_be_visible(timeout=PAGE_TIMEOUT_MS)
        friend_page.get_by_role("tab", name="Shared with me").click()
        expect(folder_row(friend_page, name)).to_contain_text(owner.email)
        expect(folder_row(friend_page, name)).to_contain_text("Read only")
        # A read-only sharee may not share, rename or delete it.
        expect(friend_page.get_by_role("button", name=f"Share {name}")).to_have_count(0)
        expect(friend_page.get_by_role("button", name=f"Delete {name}")).to_have_count(0)
    finally:
        friend_page.context.close()

    stranger_page = other_user_page(browser, live_server, reach, stranger)
    try:
        expect(stranger_page.get_by_role("tabpanel")).to_contain_text("You have no folders yet")
        expect(folder_row(stranger_page, name)).to_have_count(0)
        expect(stranger_page.get_by_role("region", name="Invitations")).to_be_hidden()
    finally:
        stranger_page.context.close()

    # The owner's dialog now lists the share, which can be removed.
    page.get_by_role("button", name=f"Share {name}").click()
    share = page.get_by_role("dialog", name=f"Share {name}")
    row = share.locator(f'tr[data-share-email="{friend.email}"]')
    expect(row).to_contain_text("Shared", timeout=PAGE_TIMEOUT_MS)
    row.get_by_role("button", name=f"Remove share with {friend.email}").click()
    expect(share.get_by_text("Not shared with anyone yet.")).to_be_visible(timeout=PAGE_TIMEOUT_MS)
