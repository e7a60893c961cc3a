"""The policies are registered as entry points under their short names."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

from backendai.manager.scheduler.policies import BUILTIN, ENTRY_POINT_GROUP

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def test_each_builtin_policy_is_registered_by_its_short_name() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    registered = project["entry-points"][ENTRY_POINT_GROUP]
    assert set(registered) == set(BUILTIN)
    for name, target in registered.items():
        module, _, attr = target.partition(":")
        assert getattr(importlib.import_module(module), attr) is BUILTIN[name]
