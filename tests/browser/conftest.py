"""Debian's Chromium driven by Playwright, and what the browser tests share: our CLI against the
live ``backendai-server up``, a session per test, and ``backend.ai app`` as a local proxy.

Never ``playwright install``: the browser is ``/usr/bin/chromium`` (scripts/setup.sh test
installs it). A screenshot of every page a test used lands in ``$BACKENDAI_TEST_ARTIFACTS``
(else a temporary folder, printed at the end of the run), failing tests included.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.netns import Netns
from tests.compat.conftest import api_env
from tests.fixtures.live import LiveServer, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
OURS = Path(sys.executable).with_name("backend.ai")
APP_READY_TIMEOUT_S = 60
# What an assertion waits for by default (Playwright's own is 5 s): a page reloaded on a loaded
# 2-core CI machine may take longer to draw, and only a failing assertion waits that long.
expect.set_options(timeout=15_000)


def missing(message: str) -> None:
    """Fail in CI (setup installs everything), skip on a machine without it."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def netns() -> Iterator[Netns | None]:
    """Chromium's own network namespace (see netns.py); None where it cannot be made."""
    made = Netns.create()
    try:
        yield made
    finally:
        if made is not None:
            made.close()


# Per module: Playwright's sync API keeps an event loop running in the main thread while it
# is open, and later modules' asyncio.run() (tests/compat) would find it there.
@pytest.fixture(scope="module")
def browser(netns: Netns | None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing (run scripts/setup.sh test)")
    executable = CHROMIUM
    if netns is not None:
        executable = netns.wrapper(tmp_path_factory.mktemp("chromium"), str(CHROMIUM))
    with sync_playwright() as p:
        # Playwright's own headless switch stays on too: it also picks the headless defaults.
        launched = p.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def reach(netns: Netns | None) -> Callable[[str], str]:
    """Makes a URL on the host's loopback reachable from the browser; returns it unchanged."""

    def expose(url: str) -> str:
        port = urlsplit(url).port
        if netns is not None and port is not None:
            netns.forward(port)
        return url

    return expose


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("BACKENDAI_TEST_ARTIFACTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("browser-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(browser: Browser, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page of a fresh browser context; every page the context opened (a notebook opens in a
    tab of its own) is saved as ``<test>[-N].png`` at the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    # Requests that failed or answered 5xx, in every page: what a broken proxy looks like.
    troubles: list[str] = []
    context.on("requestfailed", lambda r: troubles.append(f"failed {r.url}: {r.failure}"))
    context.on(
        "response",
        lambda r: (
            troubles.append(f"{r.status} {r.request.method} {r.url}") if r.status >= 500 else None
        ),
    )
    opened = context.new_page()
    try:
        yield opened
    finally:
        if troubles:
            print("requests that failed:\n" + "\n".join(troubles))
            (artifacts / f"{request.node.name}.requests.txt").write_text("\n".join(troubles) + "\n")
        for i, each in enumerate(context.pages):
            shot = artifacts / f"{request.node.name}{f'-{i}' if i else ''}.png"
            try:
                each.screenshot(path=str(shot), full_page=True)
            except Exception as e:  # a crashed page still closes; the test's own error matters
                print(f"no screenshot {shot}: {e}")
        context.close()


def cli_env(server: LiveServer, home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8",
        "XDG_STATE_HOME": str(home / ".local/state"), "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    } | api_env(server)  # fmt: skip


def ours(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(OURS), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


@contextmanager
def session(server: LiveServer, home: Path, image: str, prefix: str) -> Iterator[str]:
    """``backend.ai start -t NAME IMAGE``; the session is removed after, whatever happened."""
    env = cli_env(server, home)
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    started = ours("start", "-t", name, image, env=env)
    assert started.returncode == 0, f"start failed:\n{started.stdout}\n{started.stderr}"
    try:
        yield name
    finally:
        ours("rm", name, env=env, timeout=120)


def wait_listening(port: int, proc: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"backend.ai app exited ({proc.returncode}):\n{out}\n{err}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"backend.ai app did not listen on {port} in {timeout} s")


@contextmanager
def local_app(server: LiveServer, home: Path, name: str, app: str) -> Iterator[str]:
    """``backend.ai app -b 127.0.0.1:PORT NAME APP`` until the block ends; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [str(OURS), "app", "-b", f"127.0.0.1:{port}", name, app],
        env=cli_env(server, home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_listening(port, proc, APP_READY_TIMEOUT_S)
        yield f"http://127.0.0.1:{port}/"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C does: the documented way to stop it
            try:
                proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
