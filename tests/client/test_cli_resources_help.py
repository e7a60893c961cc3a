"""Our resource-administration commands take the same arguments and options as Backend.AI's
client 20.9.9, as its help texts (``../shared/compat/CLI_HELP-20.9.9``) show them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from backendai.client.cli.main import main

HELP_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "compat" / "CLI_HELP-20.9.9"
PREFIXES = (
    "admin_keypair-resource-polic", "admin_scaling-group", "admin_list-scaling-groups",
    "admin_agent", "admin_resources", "admin_storage", "manager_scheduler",
)  # fmt: skip
FILES = sorted(p for p in HELP_DIR.glob("*.txt") if p.name.startswith(PREFIXES))
_OPTION = re.compile(r"^\s{2}(-[-\w]+(?:, -[-\w]+)*)", re.MULTILINE)


def _usage(text: str) -> str:
    """The arguments of the usage line (after [OPTIONS]), joined across wrapped lines."""
    match = re.search(r"Usage: (.*?)\n\n", text, re.DOTALL)
    assert match, text
    usage = " ".join(match.group(1).split())
    # Newer click shows a group that runs without a subcommand as "[COMMAND]".
    return usage.split("[OPTIONS]", 1)[1].strip().replace("[COMMAND]", "COMMAND")


def _options(text: str) -> set[str]:
    return {flag for found in _OPTION.findall(text) for flag in found.split(", ")}


def _commands(text: str) -> set[str]:
    section = text.split("Commands:", 1)[1] if "Commands:" in text else ""
    return {line.split()[0] for line in section.splitlines() if line.startswith("  ")}


@pytest.mark.skipif(not FILES, reason="the official help texts are not checked out")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_same_arguments_options_and_subcommands(path: Path) -> None:
    official = path.read_text()
    words = path.stem.split("_")
    ours = CliRunner().invoke(main, [*words, "--help"], terminal_width=80)
    assert ours.exit_code == 0, ours.output
    assert _usage(ours.output) == _usage(official)
    assert _options(ours.output) == _options(official)
    assert _commands(ours.output) == _commands(official)
