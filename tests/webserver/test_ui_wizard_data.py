"""The launch wizard's image helpers (wizard_data.js) run in node: the name POST /session gets
is the image's canonical name (registry host kept, none for a local image), environments of two
registries are told apart, and the builds of one tag for several architectures are one version
(the request cannot choose an architecture)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backendai.common.session_request import NAME_RE
from backendai.manager.services.images import split_name
from tests.webserver.node import needs_node, run_module

pytestmark = needs_node


def image(canonical: str, architecture: str = "x86_64") -> dict[str, Any]:
    """An image row as GraphQL ``images`` gives it (gql/images.py ImageNode.of)."""
    registry, repository, tag = split_name(canonical)
    return {
        "name": repository,
        "humanized_name": repository.rsplit("/", 1)[-1],
        "tag": tag,
        "registry": registry,
        "architecture": architecture,
        "installed": True,
    }


def run_wizard_data(tmp_path: Path, images: list[dict[str, Any]]) -> Any:
    body = (
        f"const envs = environmentsOf({json.dumps(images)});"
        "console.log(JSON.stringify(envs.map((e) => ({label: e.label, key: e.key,"
        " versions: e.versions.map((v) => [imageRef(v), architecturesOf(v)])}))));"
    )
    return run_module(tmp_path, "wizard_data.js", "environmentsOf, imageRef, architecturesOf", body)


def test_the_image_reference_is_the_canonical_name(tmp_path: Path) -> None:
    images = [
        image("cr.backend.ai/stable/python:3.9"),
        image("cr.backend.ai/stable/python:3.9", "aarch64"),
        image("cr.backend.ai/stable/python:3.11"),
        image("registry.example.com:5000/python:latest"),
        image("python:3.12"),
        image("private/u-1234/saved:1"),
    ]
    envs = run_wizard_data(tmp_path, images)
    by_key = {e["key"]: e for e in envs}
    assert by_key["cr.backend.ai/stable/python"]["versions"] == [
        ["cr.backend.ai/stable/python:3.11", "x86_64"],
        ["cr.backend.ai/stable/python:3.9", "x86_64, aarch64"],
    ]
    assert by_key["registry.example.com:5000/python"]["versions"] == [
        ["registry.example.com:5000/python:latest", "x86_64"]
    ]
    # A local image has no registry part: its canonical name is what the agent reported.
    assert by_key["local/python"]["versions"] == [["python:3.12", "x86_64"]]
    assert by_key["local/private/u-1234/saved"]["versions"] == [
        ["private/u-1234/saved:1", "x86_64"]
    ]
    # Every reference is one the manager's split_name reads back as the same image.
    for env in envs:
        for ref, _ in env["versions"]:
            registry, repository, _tag = split_name(ref)
            assert env["key"] == f"{registry}/{repository}"
    # Three "python"s: each label names its repository, so no two are alike.
    labels = [e["label"] for e in envs]
    assert len(set(labels)) == len(labels)
    assert "python (cr.backend.ai/stable/python)" in labels
    assert "python (registry.example.com:5000/python)" in labels
    assert "python (local)" in labels
    assert "saved" in labels


def test_a_version_names_the_aliases_of_its_image(tmp_path: Path) -> None:
    """The wizard offers environments "from the images and their aliases" (issue 12)."""
    body = (
        "console.log(JSON.stringify(["
        "versionLabel({tag: '3.11-debian12', aliases: ['python', 'py3']}),"
        "versionLabel({tag: 'latest', aliases: []}), versionLabel({tag: 'x'})]));"
    )
    labels = run_module(tmp_path, "wizard_data.js", "versionLabel", body)
    assert labels == ["3.11-debian12 (python, py3)", "latest", "x"]


NAMES = [
    "mysession", "my.session-1", "_a_b_", "abc", "a" * 64, "a" * 65, "-abc", "abc-", "ab c",
    "abc\n", "세션-이름", "café", "名前テスト", "ｆｕｌｌ", "٣٣٣٣", "x²yz", "a\u0301bcd",
    "𠀀𠀀𠀀𠀀", "𠀀" * 64, "𠀀" * 65, "émoji😀", "tab\tname", "dot..dot", "a.b.c.",
]  # fmt: skip


def test_the_session_name_rule_is_the_server_s_for_every_script(tmp_path: Path) -> None:
    """The wizard refuses a name before sending it exactly when the server would: Unicode
    letters and numbers are fine (Python's \\w), lengths are code points."""
    body = f"console.log(JSON.stringify({json.dumps(NAMES)}.map((n) => nameProblem(n))));"
    problems = run_module(tmp_path, "wizard_data.js", "nameProblem", body)
    for name, problem in zip(NAMES, problems, strict=True):
        assert (problem == "") == bool(NAME_RE.match(name)), (name, problem)
