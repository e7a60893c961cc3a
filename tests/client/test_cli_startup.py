"""The CLI's start-up cost: command modules, pydantic and aiohttp are imported only on use."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from backendai.client.cli.main import COMMANDS, main


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(out.split())


def test_importing_the_cli_imports_no_command_and_no_heavy_library() -> None:
    loaded = _modules_after("import backendai.client.cli.main")
    heavy = {"aiohttp", "pydantic", "tabulate", "tqdm", "tarfile", "importlib.metadata"}
    assert not loaded & heavy
    assert not {m for m in loaded if m.startswith("backendai.client.cli.")} - {
        "backendai.client.cli.main",
        "backendai.client.cli.connection",
        "backendai.client.cli.pretty",
    }


def test_run_needs_no_pydantic_tabulate_or_tqdm() -> None:
    loaded = _modules_after("import backendai.client.cli.run")
    assert not loaded & {"pydantic", "tabulate", "tqdm", "importlib.metadata"}


@pytest.mark.parametrize(
    ("alias", "target"), [("rm", "terminate"), ("kill", "terminate"), ("info", "info")]
)
def test_aliases_resolve(alias: str, target: str) -> None:
    ctx = click.Context(main)
    command = main.get_command(ctx, alias)
    assert command is not None and command.name == target


def test_unknown_command_is_refused() -> None:
    result = CliRunner().invoke(main, ["nosuchcommand"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_help_lists_every_command_with_its_short_help() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = result.output.split("Commands:", 1)[1]
    for name in COMMANDS:
        assert f"\n  {name} " in listed
    assert "Terminate compute sessions" in listed
