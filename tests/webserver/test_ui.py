"""The web UI's files as the webserver serves them (no browser): the shell at ``/`` with its
security headers, the static modules, nothing outside the static folder, and modules that
parse and import only files that exist (a broken import would blank a page in the browser)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.webserver.app import create_app
from backendai.webserver.settings import WebserverSettings
from backendai.webserver.ui import STATIC_DIR

MODULES = sorted((STATIC_DIR / "js").rglob("*.js"))
IMPORT = re.compile(
    r"""(?:import|export)\s[^'"]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)"""
)

SINKS = re.compile(
    r"\.(?:innerHTML|outerHTML)\s*[+]?=|insertAdjacentHTML\(|document\.write"
    r"|\beval\(|new Function\("
)


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(WebserverSettings(manager_url="http://127.0.0.1:9"))
    test_client: TestClient[Any, Any] = TestClient(TestServer(app))
    await test_client.start_server()
    try:
        yield test_client
    finally:
        await test_client.close()


async def test_the_root_serves_the_shell_with_a_strict_policy(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    text = await resp.text()
    assert '<script type="module" src="/static/js/main.js">' in text
    csp = resp.headers["Content-Security-Policy"]
    for rule in ("default-src 'self'", "script-src 'self'", "connect-src 'self'",
                 "frame-ancestors 'none'", "object-src 'none'"):  # fmt: skip
        assert rule in csp
    assert "unsafe" not in csp  # no inline scripts, no eval
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    # Nothing in the shell comes from elsewhere.
    assert not re.search(r"""(src|href)=["']https?://""", text)


async def test_static_files_are_served_and_nothing_beside_them(
    client: TestClient[Any, Any],
) -> None:
    resp = await client.get("/static/js/main.js")
    assert resp.status == 200
    assert "javascript" in resp.content_type
    assert resp.headers["Content-Security-Policy"]
    resp = await client.get("/static/css/app.css")
    assert resp.status == 200 and resp.content_type == "text/css"
    for path in ("/static/", "/static/js/", "/static/../ui.py", "/static/%2e%2e/ui.py",
                 "/static/..%2fui.py", "/static/js/nosuch.js"):  # fmt: skip
        resp = await client.get(path)
        assert resp.status in (403, 404), path


def test_every_import_of_every_module_names_a_file_that_exists() -> None:
    assert MODULES, "no modules found"
    for module in MODULES:
        for match in IMPORT.finditer(module.read_text()):
            target = match.group(1) or match.group(2)
            assert target.startswith("."), f"{module.name} imports {target!r} from outside"
            assert (module.parent / target).resolve().is_file(), f"{module}: {target}"


def test_every_page_of_the_navigation_has_its_module() -> None:
    main = STATIC_DIR / "js" / "main.js"
    routes = re.findall(r'module: "(\./pages/[^"]+)"', main.read_text())
    assert len(routes) >= 10
    for target in routes:
        assert (main.parent / target).is_file(), target


def test_no_module_writes_markup_from_strings() -> None:
    """Names, log lines and file names must land as text: no innerHTML and friends."""
    for module in MODULES:
        found = SINKS.search(module.read_text())
        assert found is None, f"{module.name} uses {found.group(0) if found else ''}"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_every_module_parses(tmp_path: Path) -> None:
    for module in MODULES:
        copy = tmp_path / (module.stem + ".mjs")
        copy.write_text(module.read_text())
        checked = subprocess.run(
            ["node", "--check", str(copy)], capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, f"{module}:\n{checked.stderr}"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_sizes_read_and_print_as_the_cli_writes_them(tmp_path: Path) -> None:
    """dom.js's size helpers (the wizard's RAM, policies' limits): a bare number is bytes."""
    copy = tmp_path / "dom.mjs"
    copy.write_text((STATIC_DIR / "js" / "dom.js").read_text())
    script = (
        f"import {{ parseBytes, formatBytes }} from {str(copy)!r};"
        "console.log(JSON.stringify(["
        "parseBytes('268435456'), parseBytes('512m'), parseBytes('2g'), parseBytes('1.5 GiB'),"
        "parseBytes('lots'), formatBytes(1073741824), formatBytes(512)]));"
    )
    ran = subprocess.run(
        ["node", "--input-type=module", "-e", script], capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == [
        268435456,
        512 * 2**20,
        2 * 2**30,
        1.5 * 2**30,
        None,
        "1.00 GiB",
        "512 B",
    ]
