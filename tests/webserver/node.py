"""Running the web UI's ES modules in node, as the browser loads them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backendai.webserver.ui import STATIC_DIR

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def run_module(tmp_path: Path, page: str, names: str, body: str) -> Any:
    """``import {names} from pages/<page>`` then ``body``, which prints one JSON value with
    console.log; that value. The modules import each other by relative path, so the tree is
    copied as it is served; package.json makes node read its .js files as ES modules."""
    tree = tmp_path / "js"
    if not tree.exists():
        shutil.copytree(STATIC_DIR / "js", tree)
        (tree / "package.json").write_text('{"type": "module"}')
    module = (tree / "pages" / page).as_uri()
    script = f"import {{ {names} }} from {json.dumps(module)};{body}"
    ran = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True,
                         text=True, check=False, cwd=tmp_path)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)
