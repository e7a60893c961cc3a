"""``backend.ai vfolder``: folder management, files and sharing against the fake manager."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from backendai.client.cli.main import main
from tests.client.conftest import run_cli
from tests.client.fake_server import FakeBackend
from tests.client.fake_vfolders import OWNER, FolderRoutes
from tests.client.vfolder_fixtures import folders, server

__all__ = ["folders", "server"]

HELP_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "compat" / "CLI_HELP-20.9.9"
HELP_FILES = sorted(HELP_DIR.glob("vfolder*.txt"))
_OPTION = re.compile(r"^\s{2}(-[-\w]+(?:, -[-\w]+)*)", re.MULTILINE)


def _usage(text: str) -> str:
    match = re.search(r"Usage: (.*?)\n\n", text, re.DOTALL)
    assert match, text
    return " ".join(match.group(1).split()).split("[OPTIONS]", 1)[1].strip()


def _options(text: str) -> set[str]:
    return {flag for found in _OPTION.findall(text) for flag in found.split(", ")}


def _commands(text: str) -> set[str]:
    section = text.split("Commands:", 1)[1] if "Commands:" in text else ""
    return {line.split()[0] for line in section.splitlines() if line.startswith("  ")}


@pytest.mark.skipif(not HELP_FILES, reason="the official help texts are not checked out")
@pytest.mark.parametrize("path", HELP_FILES, ids=lambda p: p.stem)
def test_help_has_the_official_arguments_and_options(path: Path) -> None:
    official = path.read_text()
    words = path.stem.removesuffix(".alias").split("_")
    ours = CliRunner().invoke(main, [*words, "--help"], terminal_width=80)
    assert ours.exit_code == 0, ours.output
    assert _usage(ours.output) == _usage(official)
    assert _options(official) <= _options(ours.output)
    assert _commands(official) <= _commands(ours.output)
    if words == ["vfolder"]:
        assert "rm (delete-file)" in ours.output


def test_seed_000_list_hosts_create_list(api_mode: str, folders: FolderRoutes) -> None:
    empty = run_cli("vfolder", "list")
    assert (empty.exit_code, empty.stdout) == (0, "There is no virtual folders created yet.\n")
    hosts = run_cli("vfolder", "list-hosts")
    assert hosts.stdout == "Default vfolder host: local\nUsable hosts: local\n"
    created = run_cli("vfolder", "create", "myfolder", "local")
    assert (created.exit_code, created.stdout) == (0, 'Virtual folder "myfolder" is created.\n')
    listed = run_cli("vfolder", "list")
    lines = listed.stdout.splitlines()
    assert lines[0].split("  ")[:1] == ["Name"]
    for title in ("ID", "Owner", "Permission", "Owership Type", "Usage Mode", "User", "Group"):
        assert title in lines[0]
    fid = folders.folders[0].id
    assert re.match(rf"myfolder\s+{fid}\s+True\s+rw\s+user\s+general\s+{OWNER}\s", lines[2])
    assert "0 Bytes" in lines[2]  # Used
    assert run_cli("vfolder", "list-allowed-types").stdout == "['user', 'group']\n"


def test_create_options_and_errors(api_mode: str, backend: FakeBackend) -> None:
    r = run_cli("vfolder", "create", ".ssh", "-p", "ro", "-q", "10g", "--cloneable")
    assert r.exit_code == 0
    body = next(x.json() for x in backend.requests if x.method == "POST")
    assert body["host"] is None
    assert body | {"name": ".ssh"} == body
    assert (body["permission"], body["quota"], body["cloneable"]) == ("ro", "10g", True)
    again = run_cli("vfolder", "create", ".ssh")
    assert again.exit_code == 1
    assert again.stderr.startswith("\u2718 BackendAPIError: 400 Bad Request")
    bad = run_cli("vfolder", "create", "x", "nfs")
    assert bad.exit_code == 1 and "not allowed to use this vfolder host" in bad.stderr


def test_info_rename_update_options(api_mode: str, folders: FolderRoutes) -> None:
    folder = folders.add("data", quota=2**30)
    folder.files["a.txt"] = b"hello"
    info = run_cli("vfolder", "info", "data")
    assert info.exit_code == 0
    assert info.stdout.startswith(f'Virtual folder "data" (ID: {folder.id})\n- Owner: True\n')
    assert "- Number of files: 1\n" in info.stdout
    assert "- Quota: 1.0 GiB\n" in info.stdout
    assert run_cli("vfolder", "rename", "data", "data2").stderr == "\u2714 Renamed.\n"
    assert folder.name == "data2"
    r = run_cli("vfolder", "update-options", "data2", "-p", "ro", "--set-cloneable", "true")
    assert r.exit_code == 0 and (folder.permission, folder.cloneable) == ("ro", True)
    missing = run_cli("vfolder", "info", "nope")
    assert missing.exit_code == 1
    assert "404 Not Found" in missing.stderr and "Virtual folder not found." in missing.stderr


def test_delete_list_trash_restore_purge(api_mode: str, folders: FolderRoutes) -> None:
    folders.add("old")
    deleted = run_cli("vfolder", "delete", "old")
    assert (deleted.exit_code, deleted.stderr) == (0, "\u2714 Deleted.\n")
    assert run_cli("vfolder", "list").stdout == "There is no virtual folders created yet.\n"
    trash = run_cli("vfolder", "list", "--trash")
    assert "Trashed At" in trash.stdout and "old" in trash.stdout
    assert run_cli("vfolder", "restore", "old").stderr == '\u2714 Restored "old".\n'
    run_cli("vfolder", "delete", "old")
    declined = run_cli("vfolder", "purge", "old", input="n\n")
    assert declined.exit_code == 1 and len(folders.folders) == 1
    purged = run_cli("vfolder", "purge", "old", "-y")
    assert (purged.exit_code, purged.stderr, folders.folders) == (0, "\u2714 Purged.\n", [])
    gone = run_cli("vfolder", "restore", "old")
    assert gone.exit_code == 1 and gone.stderr.startswith("\u2718")


def test_ls_mkdir_rm_mv_rename_file(api_mode: str, folders: FolderRoutes) -> None:
    folder = folders.add("myfolder")
    empty = run_cli("vfolder", "ls", "myfolder")
    assert empty.stderr.endswith("\u2714 Retrived.\n")
    assert empty.stdout.splitlines()[0].split() == ["file", "name", "size", "modified", "mode"]
    folder.files["file-preserved"] = b""
    r = run_cli("vfolder", "ls", "myfolder")
    row = r.stdout.splitlines()[2].split()
    assert row[0] == "file-preserved" and row[1] == "0" and row[-1] == "-rw-r--r--"
    assert re.fullmatch(r"\w{3} \d\d \d{4} \d\d:\d\d:\d\d", " ".join(row[2:6]))
    assert run_cli("vfolder", "mkdir", "myfolder", "a/b").stderr == "\u2714 Done.\n"
    exists = run_cli("vfolder", "mkdir", "myfolder", "a/b")
    assert exists.exit_code == 1
    assert run_cli("vfolder", "mkdir", "-p", "myfolder", "a/b").exit_code == 0
    run_cli("vfolder", "mkdir", "myfolder", "d")
    assert run_cli("vfolder", "ls", "myfolder").stdout.count("drwxr-xr-x") == 2
    assert run_cli("vfolder", "mv", "myfolder", "file-preserved", "d").stderr == "\u2714 Moved.\n"
    assert "d/file-preserved" in folder.files
    assert "file-preserved" in run_cli("vfolder", "ls", "myfolder", "d").stdout
    r = run_cli("vfolder", "rename-file", "myfolder", "d/file-preserved", "kept")
    assert r.exit_code == 0 and "d/kept" in folder.files
    refused = run_cli("vfolder", "rm", "myfolder", "d", input="y\n")
    assert refused.exit_code == 1 and "is a directory" in refused.stderr
    kept = run_cli("vfolder", "rm", "-r", "myfolder", "d", input="n\n")
    assert kept.exit_code == 1 and "d/kept" in folder.files
    removed = run_cli("vfolder", "delete-file", "-r", "myfolder", "d", input="y\n")
    assert removed.exit_code == 0 and removed.stdout.startswith("Are you sure? [Y/n]")
    assert folder.files == {}
    assert run_cli("vfolder", "rm", "-y", "myfolder", "nothing").exit_code == 1


def test_invite_invitations_accept_reject(api_mode: str, folders: FolderRoutes) -> None:
    folders.add("team")
    r = run_cli("vfolder", "invite", "team", "a@x.com", "b@x.com", "-p", "ro")
    assert r.stdout == "Invitation sent to:\n\t- a@x.com\n\t- b@x.com\n"
    assert run_cli("vfolder", "invite", "team", "nobody").stdout.startswith("No users found.")
    assert run_cli("vfolder", "invite", "team", "a@x.com", "-p", "xx").exit_code == 2
    listed = run_cli("vfolder", "invitations")
    first, second = (i["id"] for i in folders.invitations)
    assert first in listed.stdout and "read-only" in listed.stdout and "team" in listed.stdout
    accepted = run_cli("vfolder", "invitations", "--accept", first)
    assert accepted.stderr == f"\u2714 Accepted the invitation {first}.\n"
    assert folders.find("team-shared") is not None
    rejected = run_cli("vfolder", "invitations", "--reject", second)
    assert rejected.exit_code == 0 and folders.invitations == []
    assert run_cli("vfolder", "invitations").stdout == "No invitations.\n"
    assert run_cli("vfolder", "invitations", "--accept", "bogus").exit_code == 1
    left = run_cli("vfolder", "leave", "team-shared")
    assert left.stdout == 'Left the shared virtual folder "team-shared".\n'
    assert run_cli("vfolder", "leave", "team").exit_code == 1


def test_share_unshare_clone(api_mode: str, folders: FolderRoutes) -> None:
    folder = folders.add("src")
    folder.files["x"] = b"1"
    shared = run_cli("vfolder", "share", "src", "a@x.com", "-p", "ro")
    assert shared.stderr == "\u2714 Shared with: a@x.com\n" and folder.shared == {"a@x.com": "ro"}
    assert "a@x.com (ro)" in run_cli("vfolder", "info", "src").stdout
    unshared = run_cli("vfolder", "unshare", "src", "a@x.com")
    assert unshared.stderr == "\u2714 Unshared from: a@x.com\n" and folder.shared == {}
    refused = run_cli("vfolder", "clone", "src", "dst", "local")
    assert refused.exit_code == 1 and "403 Forbidden" in refused.stderr
    folder.cloneable = True
    cloned = run_cli("vfolder", "clone", "src", "dst", "local")
    assert cloned.exit_code == 0 and cloned.stderr.endswith("\u2714 Cloned.\n")
    assert folders.find("dst") is not None


def test_request_download_and_session_mode(session_mode: str, folders: FolderRoutes) -> None:
    folder = folders.add("f")
    folder.files["a"] = b"x"
    assert run_cli("login", input="user@example.com\nsecret-password\n").exit_code == 0
    r = run_cli("vfolder", "request-download", "f", "a")
    token = next(iter(folders.downloads))
    assert r.stderr == f"\u2714 Download token: {token}\n"
    assert r.stdout == f"{folders.storage_url}/download?token={token}\n"


def test_unreachable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKEND_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("BACKEND_ACCESS_KEY", "AK")
    monkeypatch.setenv("BACKEND_SECRET_KEY", "SK")
    r = run_cli("vfolder", "list")
    assert r.exit_code == 1 and r.stderr.startswith("\u2718 BackendClientError")


def test_ls_reads_items_when_files_is_absent(
    api_mode: str, folders: FolderRoutes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backendai.client.cli import vfolder as cli_vfolder

    result = {
        "items": [
            {"name": "d", "type": "DIRECTORY", "size": 0, "mode": "755",
             "modified": "2021-09-01T12:00:00+00:00"},
            {"name": "f", "type": "FILE", "size": 3, "mode": 0o100600, "modified": 1630497600.0},
        ]
    }  # fmt: skip
    rows = cli_vfolder._listing_rows(result)
    assert [(r[0], r[1], r[3]) for r in rows] == [("d", 0, "drwxr-xr-x"), ("f", 3, "-rw-------")]
    folders.add("x")

    def broken(result: dict[str, object]) -> list[list[object]]:
        raise ValueError("not JSON")

    monkeypatch.setattr(cli_vfolder, "_listing_rows", broken)
    bad = run_cli("vfolder", "ls", "x")
    assert bad.exit_code == 1 and "file list is not valid" in bad.stderr


def test_async_sdk(api_mode: str, folders: FolderRoutes) -> None:
    import asyncio

    from backendai.client.session import AsyncSession

    async def main() -> None:
        async with AsyncSession() as session:
            created = await session.VFolder.create("async-folder", "local", quota="1g")
            assert created["name"] == "async-folder"
            await session.VFolder("async-folder").mkdir("a/b", exist_ok=True)
            listing = await session.VFolder("async-folder").list_files()
            assert [i["name"] for i in listing["items"]] == ["a"]
            assert await session.VFolder.list_allowed_types() == ["user", "group"]
            assert (await session.VFolder.list_all_hosts())["allowed"] == ["local"]

    asyncio.run(main())
