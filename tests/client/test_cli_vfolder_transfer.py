"""``vfolder upload``/``download``/``cp``: tus uploads and ranged downloads, with resumption."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from backendai.client.session import Session
from tests.client.conftest import run_cli
from tests.client.fake_vfolders import FolderRoutes
from tests.client.vfolder_fixtures import folders, server

__all__ = ["folders", "server"]

SIZE = 1_000_003


def _blob(size: int = SIZE) -> bytes:
    return os.urandom(size)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_upload_several_files_in_chunks(
    api_mode: str, folders: FolderRoutes, workdir: Path
) -> None:
    folder = folders.add("myfolder")
    (workdir / "sub").mkdir()
    big, small = _blob(), b"ssh-rsa AAAA user@host\n"
    (workdir / "sub" / "big.bin").write_bytes(big)
    (workdir / "authorized_keys").write_bytes(small)
    (workdir / "empty").write_bytes(b"")
    r = run_cli("vfolder", "upload", "myfolder", "sub/big.bin", "authorized_keys", "empty",
                "--chunk-size", "256k")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert r.stderr.endswith("\u2714 Done.\n")
    assert "sub/big.bin" in r.stderr and "100%" in r.stderr  # the progress bars
    assert _sha(folder.files["sub/big.bin"]) == _sha(big)
    assert folder.files["authorized_keys"] == small and folder.files["empty"] == b""
    assert folders.patches[:4] == [0, 262144, 524288, 786432]
    assert len(folders.patches) == 5  # 4 chunks of the big file, 1 of the small, 0 of empty
    upload = next(x for x in folders.backend.requests if x.method == "PATCH")
    assert "Authorization" not in upload.headers
    assert upload.headers["Tus-Resumable"] == "1.0.0"
    assert upload.headers["Content-Type"] == "application/offset+octet-stream"


def test_upload_refusals(
    api_mode: str, folders: FolderRoutes, tmp_path: Path, workdir: Path
) -> None:
    folders.add("myfolder")
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    r = run_cli("vfolder", "upload", "myfolder", str(outside))
    assert r.exit_code == 1 and "outside of the base directory" in r.stderr
    assert run_cli("vfolder", "upload", "myfolder").exit_code == 2
    assert run_cli("vfolder", "upload", "myfolder", "x", "--chunk-size", "lots").exit_code == 2
    (workdir / "x").write_text("x")
    missing = run_cli("vfolder", "upload", "nope", "x")
    assert missing.exit_code == 1 and "404 Not Found" in missing.stderr


def test_upload_resumes_from_the_storage_offset(
    api_mode: str, folders: FolderRoutes, workdir: Path
) -> None:
    folder = folders.add("myfolder")
    data = _blob()
    (workdir / "data.bin").write_bytes(data)
    folders.fail_patch_at = SIZE // 2
    first = run_cli("vfolder", "upload", "myfolder", "data.bin", "--chunk-size", "128k")
    assert first.exit_code == 1
    assert "\u2718 BackendAPIError: 500 Internal Server Error\n" in first.stderr
    assert "The storage refused the upload." in first.stderr
    assert "data.bin" not in folder.files
    received = len(next(iter(folders.uploads.values())).data)
    assert 0 < received < SIZE
    tickets = list((workdir.parent / "state" / "backend.ai" / "vfolder-uploads").iterdir())
    assert len(tickets) == 1
    requests_before = len(folders.backend.requests)
    second = run_cli("vfolder", "upload", "myfolder", "data.bin", "--chunk-size", "128k")
    assert second.exit_code == 0, second.stderr
    new = [f"{r.method} {r.path.split('?')[0]}" for r in folders.backend.requests[requests_before:]]
    assert "POST /folders/myfolder/request-upload" not in new  # the old ticket was used
    assert new.index("HEAD /upload") < new.index("PATCH /upload")
    resumed = folders.patches[folders.patches.index(received, 1) :]
    assert resumed[0] == received  # continued where the storage stood, not from 0
    assert _sha(folder.files["data.bin"]) == _sha(data)
    assert list(tickets[0].parent.iterdir()) == []  # a finished upload drops its ticket


def test_upload_with_an_expired_ticket_starts_over(
    api_mode: str, folders: FolderRoutes, workdir: Path
) -> None:
    folder = folders.add("myfolder")
    data = _blob(300_000)
    (workdir / "data.bin").write_bytes(data)
    folders.fail_patch_at = 100_000
    assert (
        run_cli("vfolder", "upload", "myfolder", "data.bin", "--chunk-size", "64k").exit_code == 1
    )
    folders.uploads.clear()  # the storage forgot it (expired)
    folders.patches.clear()
    r = run_cli("vfolder", "upload", "myfolder", "data.bin", "--chunk-size", "64k")
    assert r.exit_code == 0, r.stderr
    assert folders.patches[0] == 0
    assert folder.files["data.bin"] == data


def test_download_and_refusing_to_overwrite(
    api_mode: str, folders: FolderRoutes, workdir: Path
) -> None:
    folder = folders.add("myfolder")
    data = _blob()
    folder.files["sub/data.bin"] = data
    r = run_cli("vfolder", "download", "myfolder", "sub/data.bin")
    assert r.exit_code == 0, r.stderr
    assert r.stderr.endswith("\u2714 Done.\n") and "100%" in r.stderr
    target = workdir / "sub" / "data.bin"
    assert target.read_bytes() == data and not (workdir / "sub" / "data.bin.part").exists()
    target.write_bytes(b"mine")
    refused = run_cli("vfolder", "download", "myfolder", "sub/data.bin")
    assert refused.exit_code == 1 and "already exists" in refused.stderr
    assert target.read_bytes() == b"mine"
    assert run_cli("vfolder", "download", "--overwrite", "myfolder", "sub/data.bin").exit_code == 0
    assert target.read_bytes() == data
    base = workdir / "elsewhere"
    assert (
        run_cli("vfolder", "download", "-b", str(base), "myfolder", "sub/data.bin").exit_code == 0
    )
    assert (base / "sub" / "data.bin").read_bytes() == data
    escape = run_cli("vfolder", "download", "myfolder", "../x")
    assert escape.exit_code == 1 and "outside" in escape.stderr
    missing = run_cli("vfolder", "download", "myfolder", "nope")
    assert missing.exit_code == 1 and "404" in missing.stderr


def test_download_resumes_with_range(api_mode: str, folders: FolderRoutes, workdir: Path) -> None:
    folder = folders.add("myfolder")
    data = _blob()
    folder.files["data.bin"] = data
    folders.cut_download_at = 400_000
    first = run_cli("vfolder", "download", "myfolder", "data.bin")
    assert first.exit_code == 1 and "run it again to resume" in first.stderr
    part = workdir / "data.bin.part"
    kept = part.stat().st_size
    assert 0 < kept <= 400_000 and not (workdir / "data.bin").exists()
    second = run_cli("vfolder", "download", "myfolder", "data.bin")
    assert second.exit_code == 0, second.stderr
    assert folders.ranges == [None, f"bytes={kept}-"]
    assert _sha((workdir / "data.bin").read_bytes()) == _sha(data)
    assert not part.exists()


def test_download_restarts_when_the_file_changed(
    api_mode: str, folders: FolderRoutes, workdir: Path
) -> None:
    folder = folders.add("myfolder")
    folder.files["data.bin"] = _blob()
    folders.cut_download_at = 300_000
    assert run_cli("vfolder", "download", "myfolder", "data.bin").exit_code == 1
    changed = _blob(500_000)
    folder.files["data.bin"] = changed  # a new ETag: If-Range makes the storage send it all
    assert run_cli("vfolder", "download", "myfolder", "data.bin").exit_code == 0
    assert (workdir / "data.bin").read_bytes() == changed


def test_cp_both_ways_and_inside_a_folder(
    api_mode: str, folders: FolderRoutes, workdir: Path
) -> None:
    folder = folders.add("myfolder")
    (workdir / "a.txt").write_text("alpha")
    (workdir / "b.txt").write_text("beta")
    up = run_cli("vfolder", "cp", "a.txt", "b.txt", "myfolder:docs")
    assert up.exit_code == 0, up.stderr
    assert folder.files == {"docs/a.txt": b"alpha", "docs/b.txt": b"beta"}
    down_dir = workdir / "down"
    down_dir.mkdir()
    down = run_cli("vfolder", "cp", "myfolder:docs/a.txt", "myfolder:docs/b.txt", str(down_dir))
    assert down.exit_code == 0, down.stderr
    assert (down_dir / "a.txt").read_text() == "alpha" and (
        down_dir / "b.txt"
    ).read_text() == "beta"
    single = run_cli("vfolder", "cp", "myfolder:docs/a.txt", "renamed.txt")
    assert single.exit_code == 0 and (workdir / "renamed.txt").read_text() == "alpha"
    assert run_cli("vfolder", "cp", "myfolder:docs/a.txt", "renamed.txt").exit_code == 1
    inside = run_cli("vfolder", "cp", "myfolder:docs/a.txt", "myfolder:copy.txt")
    assert inside.exit_code == 0 and folder.files["copy.txt"] == b"alpha"
    assert run_cli("vfolder", "cp", "a.txt", "b.txt").exit_code == 2
    assert run_cli("vfolder", "cp", "x:a", "y:b").exit_code == 2
    assert run_cli("vfolder", "cp", "a.txt").exit_code == 2


def test_sdk_upload_download_with_progress(
    api_mode: str, folders: FolderRoutes, workdir: Path
) -> None:
    folder = folders.add("sdk")
    data = _blob(200_000)
    (workdir / "f.bin").write_bytes(data)
    seen: list[tuple[str, int, int]] = []
    with Session() as session:
        vf = session.VFolder("sdk")
        assert vf.upload(["f.bin"], dest="in", chunk_size=65536,
                         progress=lambda *a: seen.append(a)) == ["in/f.bin"]  # fmt: skip
        assert folder.files["in/f.bin"] == data
        assert seen[0] == ("in/f.bin", 0, 200_000) and seen[-1] == ("in/f.bin", 200_000, 200_000)
        out = vf.download(["in/f.bin"], dest=workdir / "g.bin")
        assert out == [workdir / "g.bin"] and out[0].read_bytes() == data
        assert [f["name"] for f in vf.list_files("in")["items"]] == ["f.bin"]
        assert session.VFolder.list_hosts()["default"] == "local"


def test_upload_resyncs_after_conflicts_then_gives_up(
    api_mode: str, folders: FolderRoutes, workdir: Path
) -> None:
    folder = folders.add("myfolder")
    data = _blob(200_000)
    (workdir / "data.bin").write_bytes(data)
    folders.conflicts = 2
    r = run_cli("vfolder", "upload", "myfolder", "data.bin", "--chunk-size", "64k")
    assert r.exit_code == 0, r.stderr
    assert folder.files["data.bin"] == data
    (workdir / "other.bin").write_bytes(data)
    folders.conflicts = 10
    stuck = run_cli("vfolder", "upload", "myfolder", "other.bin")
    assert stuck.exit_code == 1 and "409 Conflict" in stuck.stderr


def test_old_tickets_are_pruned(api_mode: str, folders: FolderRoutes, workdir: Path) -> None:
    folders.add("myfolder")
    tickets = workdir.parent / "state" / "backend.ai" / "vfolder-uploads"
    tickets.mkdir(parents=True)
    old = tickets / "stale.json"
    old.write_text("{}")
    os.utime(old, (0, 0))
    (workdir / "a").write_text("a")
    assert run_cli("vfolder", "upload", "myfolder", "a").exit_code == 0
    assert not old.exists()


def test_session_mode_transfer(session_mode: str, folders: FolderRoutes, workdir: Path) -> None:
    folder = folders.add("web")
    assert run_cli("login", input="user@example.com\nsecret-password\n").exit_code == 0
    (workdir / "w.bin").write_bytes(b"via the webserver")
    assert run_cli("vfolder", "upload", "web", "w.bin").exit_code == 0
    assert folder.files["w.bin"] == b"via the webserver"
    paths = folders.backend.paths()
    assert "POST /func/folders/web/request-upload" in paths
    (workdir / "w.bin").unlink()
    assert run_cli("vfolder", "download", "web", "w.bin").exit_code == 0
    assert (workdir / "w.bin").read_bytes() == b"via the webserver"
