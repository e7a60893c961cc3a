"""A directory dropped on the Data page (data_browser.js ``walkEntries``) becomes its files with
their paths, read in the browser's batches, and bounded: run in node on the same shape of
objects the browser's FileSystemEntry API hands over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.webserver.node import needs_node, run_module

pytestmark = needs_node

# Fake entries: a directory's reader answers in batches of two, then an empty batch, as
# Chromium's answers in batches of 100.
FAKES = """
function file(fullPath) {
  return { isFile: true, isDirectory: false, fullPath,
           file: (ok) => ok({ name: fullPath.split("/").pop(), size: fullPath.length }) };
}
function dir(fullPath, children) {
  return { isFile: false, isDirectory: true, fullPath, createReader() {
    let i = 0;
    return { readEntries(ok) { const batch = children.slice(i, i + 2); i += 2; ok(batch); } };
  } };
}
function deep(n) {
  let d = file("/d" + "/d".repeat(n) + "/leaf.txt");
  for (let k = n; k >= 0; k--) d = dir("/d" + "/d".repeat(k), [d]);
  return d;
}
"""


def run(tmp_path: Path, expression: str) -> Any:
    body = (
        f"{FAKES}try {{ const got = await {expression};"
        " console.log(JSON.stringify(got.map((f) => f.path).sort())); }"
        " catch (e) { console.log(JSON.stringify({error: e.message})); }"
    )
    return run_module(tmp_path, "data_browser.js", "walkEntries, MAX_TREE_FILES", body)


def test_a_dropped_tree_is_its_files_with_their_paths(tmp_path: Path) -> None:
    tree = (
        'walkEntries([dir("/photos", [file("/photos/a.jpg"), file("/photos/b.jpg"),'
        ' dir("/photos/2024", [file("/photos/2024/c.jpg")]), dir("/photos/empty", [])]),'
        ' file("/notes.txt")])'
    )
    assert run(tmp_path, tree) == [
        "notes.txt", "photos/2024/c.jpg", "photos/a.jpg", "photos/b.jpg",
    ]  # fmt: skip


def test_a_tree_too_deep_or_too_big_uploads_nothing(tmp_path: Path) -> None:
    assert "nested deeper than 32" in run(tmp_path, "walkEntries([deep(40)])")["error"]
    assert run(tmp_path, "walkEntries([deep(20)])") == ["d" + "/d" * 20 + "/leaf.txt"]
    many = (
        'walkEntries([dir("/m", Array.from({length: MAX_TREE_FILES + 1},'
        ' (_, i) => file("/m/" + i)))])'
    )
    assert "more than 10000 files" in run(tmp_path, many)["error"]
