"""My account in Chromium: a fresh user changes the password (a wrong current one refused with
the server's reason), logs in with the new one, reveals its secret key, and adds, lists and
removes an SSH public key and a dotfile."""

from __future__ import annotations

import base64
import os
import struct
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import cli_env, ours
from tests.browser.ui import Account, go, log_in, new_user
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow]
IMAGE = "python"


def ed25519_public_key(comment: str) -> str:
    """An OpenSSH public key line of the right shape (random key bytes: nobody holds its
    private half, so it opens nothing)."""
    kind = b"ssh-ed25519"
    blob = struct.pack(">I", len(kind)) + kind + struct.pack(">I", 32) + os.urandom(32)
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}"


# Writes the .ssh folder's authorized_keys the way code in a session could (the folder is
# mounted read-write there): through the page's own signed API, behind the page's back.
WRITE_AUTHORIZED_KEYS = """async (text) => {
  const { request, storageUrl } = await import("/static/js/api.js");
  const folders = await request("GET", "/folders");
  const folder = folders.find((f) => f.name === ".ssh" && f.is_owner);
  const bytes = new TextEncoder().encode(text);
  const ticket = await request("POST", `/folders/${folder.id}/request-upload`,
    { json: { path: "authorized_keys", size: bytes.length } });
  const resp = await fetch(storageUrl(ticket), { method: "PATCH", body: bytes, headers: {
    "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
    "Content-Type": "application/offset+octet-stream" } });
  if (!resp.ok) throw new Error(`PATCH answered ${resp.status}`);
}"""


def remove_ssh_key(page: Page, name: str) -> None:
    page.get_by_role("button", name=f"Remove SSH key {name}").click()
    page.get_by_role("dialog", name="Remove SSH key").get_by_role("button", name="REMOVE").click()
    expect(page.locator(f'tr[data-ssh-key="{name}"]')).to_have_count(0)


def test_my_account_password_ssh_keys_and_dotfiles(
    live_server: LiveServer, page: Page, reach: Callable[[str], str], artifacts: Path
) -> None:
    who = new_user(live_server, prefix="uiacct")
    log_in(page, live_server, reach, who)
    go(page, "account")
    expect(page.get_by_role("heading", name="My account")).to_be_visible()
    expect(page.get_by_text(who.email).first).to_be_visible()
    expect(page.get_by_label("Access key", exact=True)).to_have_value(who.access_key)

    # The secret key only on request, and hidden again.
    page.get_by_role("button", name="Show secret key").click()
    expect(page.get_by_label("Secret key", exact=True)).to_have_value(who.secret_key)
    page.get_by_role("button", name="Hide secret key").click()
    expect(page.get_by_label("Secret key", exact=True)).to_have_count(0)

    new_password = f"Nw-{uuid.uuid4().hex[:12]}"
    page.get_by_label("Current password").fill("not-my-password")
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("Confirm new password").fill(new_password + "x")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("The confirmation differs")).to_be_visible()
    page.get_by_label("Confirm new password").fill(new_password)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("The password was not changed")).to_contain_text("incorrect")
    page.get_by_label("Current password").fill(who.password)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password is changed")).to_be_visible()

    # SSH keys: a malformed one explained, a good one listed (and still there after a reload).
    key = ed25519_public_key("ui-test@laptop")
    page.get_by_label("Public key").fill("ssh-ed25519 not-base64!")
    page.get_by_role("button", name="Add SSH key").click()
    expect(page.get_by_text("base64")).to_be_visible()
    page.get_by_label("Public key").fill(key)
    page.get_by_role("button", name="Add SSH key").click()
    expect(page.locator('tr[data-ssh-key="ui-test@laptop"]')).to_be_visible()

    # A dotfile: the reserved authorized_keys path is refused before any request.
    page.get_by_role("button", name="New dotfile").click()
    dialog = page.get_by_role("dialog", name="New dotfile")
    dialog.get_by_label("Path").fill(".ssh/authorized_keys")
    dialog.get_by_role("button", name="CREATE").click()
    expect(dialog.get_by_text("written by the platform")).to_be_visible()
    dialog.get_by_label("Path").fill(".vimrc")
    dialog.get_by_label("Content").fill("set number\n")
    dialog.get_by_role("button", name="CREATE").click()
    expect(dialog).to_be_hidden()
    expect(page.locator('tr[data-dotfile-path=".vimrc"]')).to_be_visible()

    # A key with options, as code in a session could add it, is listed with its options and
    # can be removed; a removal applies to the file as it is now, so a key added elsewhere
    # after this page loaded survives it.
    sneaky = 'from="10.0.0.1",no-pty ' + ed25519_public_key("sneaky@session")
    page.evaluate(WRITE_AUTHORIZED_KEYS, f"{key}\n# a comment\n{sneaky}\n")
    page.reload()
    expect(page.locator('tr[data-ssh-key="ui-test@laptop"]')).to_be_visible()
    expect(page.locator('tr[data-ssh-key="sneaky@session"]')).to_contain_text('from="10.0.0.1"')
    expect(page.locator('tr[data-dotfile-path=".vimrc"]')).to_be_visible()
    page.screenshot(path=str(artifacts / "ui-account.png"), full_page=True)
    late = ed25519_public_key("late@other-tab")
    page.evaluate(WRITE_AUTHORIZED_KEYS, f"{key}\n# a comment\n{sneaky}\n{late}\n")
    remove_ssh_key(page, "sneaky@session")
    expect(page.locator('tr[data-ssh-key="late@other-tab"]')).to_be_visible()
    remove_ssh_key(page, "late@other-tab")

    remove_ssh_key(page, "ui-test@laptop")
    page.get_by_role("button", name="Delete .vimrc").click()
    page.get_by_role("dialog", name="Delete dotfile").get_by_role("button", name="DELETE").click()
    expect(page.locator('tr[data-dotfile-path=".vimrc"]')).to_have_count(0)
    page.reload()
    expect(page.get_by_text("No SSH keys yet.")).to_be_visible()
    expect(page.get_by_text("No dotfiles yet.")).to_be_visible()

    # The new password is the one that logs in now.
    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server, reach, Account(who.email, new_password))
    expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()


@pytest.mark.docker
def test_a_key_and_a_dotfile_added_here_reach_a_new_session(
    live_server: LiveServer, page: Page, reach: Callable[[str], str], tmp_path: Path
) -> None:
    """What sshd reads: the key lands in /home/work/.ssh/authorized_keys (0600) of the next
    session, and the dotfile in /home/work."""
    who = new_user(live_server, prefix="uissh")
    log_in(page, live_server, reach, who)
    go(page, "account")
    key = ed25519_public_key("reach@laptop")
    page.get_by_label("Public key").fill(key)
    page.get_by_role("button", name="Add SSH key").click()
    expect(page.locator('tr[data-ssh-key="reach@laptop"]')).to_be_visible()
    page.get_by_role("button", name="New dotfile").click()
    dialog = page.get_by_role("dialog", name="New dotfile")
    dialog.get_by_label("Path").fill(".config/ui-test.conf")
    dialog.get_by_label("Permission").fill("600")
    dialog.get_by_label("Content").fill("from-the-ui")
    dialog.get_by_role("button", name="CREATE").click()
    expect(page.locator('tr[data-dotfile-path=".config/ui-test.conf"]')).to_be_visible()

    env = cli_env(live_server, tmp_path / "home") | {
        "BACKEND_ACCESS_KEY": who.access_key,
        "BACKEND_SECRET_KEY": who.secret_key,
    }
    name = f"uissh-{uuid.uuid4().hex[:8]}"
    code = (
        "import os\n"
        "p = '/home/work/.ssh/authorized_keys'\n"
        "print(open(p).read().strip(), oct(os.stat(p).st_mode & 0o777))\n"
        "print(open('/home/work/.config/ui-test.conf').read())\n"
    )
    try:
        ran = ours("run", "-t", name, IMAGE, "-c", code, env=env)
        assert ran.returncode == 0, f"run failed:\n{ran.stdout}\n{ran.stderr}"
        assert f"{key} 0o600" in ran.stdout
        assert "from-the-ui" in ran.stdout
    finally:
        ours("rm", name, env=env, timeout=120)
