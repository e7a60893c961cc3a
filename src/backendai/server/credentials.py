"""The demo credentials file that ``backendai-server up`` writes and prints."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from backendai.manager.services.bootstrap import InitialUsers

CREDENTIALS_FILE = "demo-credentials.json"


def write(
    data_dir: Path, endpoint: str, webserver: str, users: InitialUsers | None
) -> dict[str, Any]:
    """Write (or refresh the URLs of) the credentials file; returns its content."""
    path = data_dir / CREDENTIALS_FILE
    doc: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if users is not None:
        doc["superadmin"] = users.superadmin.as_dict()
        doc["demo"] = users.demo.as_dict()
    doc["endpoint"] = endpoint
    doc["webserver"] = webserver
    ordered = {k: doc.get(k) for k in ("endpoint", "webserver", "superadmin", "demo")}
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(ordered, f, indent=2)
    tmp.replace(path)
    return ordered


def show(doc: dict[str, Any], path: Path, extra: list[str] | None = None) -> None:
    """``extra``: lines about the other processes (storage, app proxy), after the endpoints."""
    click.echo("✔ Backend.AI-compatible platform is up.")
    click.echo(f"  API endpoint (keypair mode):   {doc['endpoint']}")
    click.echo(f"  Webserver (session mode, UI):  {doc['webserver']}")
    for line in extra or []:
        click.echo(f"  {line}")
    for role in ("superadmin", "demo"):
        user = doc.get(role)
        if not user:
            continue
        click.echo(f"  {role}: {user['email']} / {user['password']}")
        click.echo(f"    BACKEND_ACCESS_KEY={user['access_key']}")
        click.echo(f"    BACKEND_SECRET_KEY={user['secret_key']}")
    click.echo(f"  (saved in {path})")
    click.echo("∙ Try it:")
    demo = doc.get("demo") or {}
    click.echo(
        f"  export BACKEND_ENDPOINT_TYPE=api BACKEND_ENDPOINT={doc['endpoint']} "
        f"BACKEND_ACCESS_KEY={demo.get('access_key', '')} "
        f"BACKEND_SECRET_KEY={demo.get('secret_key', '')}"
    )
    click.echo("  backend.ai ps")
    click.echo("∙ Press Ctrl-C to stop.", err=False)
