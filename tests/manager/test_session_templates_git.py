"""The shell snippet a template's ``git`` section becomes, run with /bin/sh against real local
repositories: branch and commit checked out, values that try to inject commands stay
values, credentials never land in the clone's config, and a failed clone fails the script
with git's message."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from backendai.manager.services.session_template_spec import GitSpec, git_snippet

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": "/nonexistent", "PATH": "/usr/bin:/bin",
    "GIT_CONFIG_NOSYSTEM": "1",
}  # fmt: skip


def git(*args: str, cwd: Path | None = None) -> str:
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, str, str]:
    """A bare repository with ``main`` (two commits) and ``dev``; the first commit's id."""
    bare, work = tmp_path / "origin.git", tmp_path / "work"
    git("init", "--bare", "-q", "-b", "main", str(bare))
    git("init", "-q", "-b", "main", str(work))
    (work / "file.txt").write_text("one\n")
    git("add", "file.txt", cwd=work)
    git("commit", "-q", "-m", "one", cwd=work)
    first = git("rev-parse", "HEAD", cwd=work)
    (work / "file.txt").write_text("two\n")
    git("commit", "-q", "-am", "two", cwd=work)
    git("checkout", "-q", "-b", "dev", cwd=work)
    (work / "file.txt").write_text("dev\n")
    git("commit", "-q", "-am", "dev", cwd=work)
    git("push", "-q", str(bare), "main", "dev", cwd=work)
    return bare, first, git("rev-parse", "HEAD", cwd=work)


def run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", script], cwd=cwd, env=GIT_ENV, capture_output=True, text=True
    )


def spec(tmp_path: Path, **fields: object) -> GitSpec:
    # Rooted under /home/work as a template must be; the test maps that onto tmp_path.
    return GitSpec.model_validate(fields)


def rooted(script: str, tmp_path: Path) -> str:
    return script.replace("/home/work", str(tmp_path / "home"))


def test_branch_and_commit_are_checked_out(tmp_path: Path, origin: tuple[Path, str, str]) -> None:
    bare, first, dev = origin
    script = git_snippet(spec(tmp_path, repository=f"file://{bare}", branch="dev"))
    done = run(rooted(script, tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    clone = tmp_path / "home" / "origin"  # the repository's name without .git
    assert (clone / "file.txt").read_text() == "dev\n"
    assert git("rev-parse", "HEAD", cwd=clone) == dev

    script = git_snippet(spec(tmp_path, repository=f"file://{bare}", branch="main", commit=first,
                              destinationDir="/home/work/at/first"))  # fmt: skip
    done = run(rooted(script, tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    clone = tmp_path / "home" / "at" / "first"
    assert git("rev-parse", "HEAD", cwd=clone) == first
    assert (clone / "file.txt").read_text() == "one\n"


def test_a_failed_clone_fails_the_script_with_gits_message(tmp_path: Path) -> None:
    script = git_snippet(spec(tmp_path, repository=f"file://{tmp_path}/missing.git"))
    done = run(rooted(script, tmp_path) + "echo after-the-clone\n", tmp_path)
    assert done.returncode != 0
    assert "does not appear to be a git repository" in done.stderr or "fatal" in done.stderr
    assert "after-the-clone" not in done.stdout  # the template's bootstrap does not run


def test_a_bad_commit_fails_the_script(tmp_path: Path, origin: tuple[Path, str, str]) -> None:
    bare, _, _ = origin
    script = git_snippet(spec(tmp_path, repository=f"file://{bare}", commit="0" * 40))
    done = run(rooted(script, tmp_path), tmp_path)
    assert done.returncode != 0 and "fatal" in done.stderr


def test_hostile_values_stay_values(tmp_path: Path, origin: tuple[Path, str, str]) -> None:
    bare, _, _ = origin
    marker = tmp_path / "pwned"
    script = git_snippet(spec(
        tmp_path, repository=f"file://{bare}", branch=f"main; touch {marker}",
        destinationDir=f"/home/work/x$(touch {marker})",
        credential={"username": f"u'; touch {marker}; '", "password": f"$(touch {marker})"},
    ))  # fmt: skip
    done = run(rooted(script, tmp_path), tmp_path)
    assert done.returncode != 0  # no such branch: the whole string is the branch name
    assert not marker.exists()


def test_credentials_are_not_kept_nor_shown(tmp_path: Path, origin: tuple[Path, str, str]) -> None:
    bare, _, _ = origin
    script = git_snippet(spec(tmp_path, repository=f"file://{bare}",
                              credential={"username": "alice", "password": "hunter2"}))  # fmt: skip
    assert "hunter2" not in script  # only inside the base64 header value
    token = base64.b64encode(b"alice:hunter2").decode()
    assert f"'http.extraHeader=Authorization: Basic {token}'" in script
    done = run(rooted(script, tmp_path), tmp_path)
    assert done.returncode == 0, done.stderr
    assert token not in done.stdout + done.stderr and "hunter2" not in done.stdout + done.stderr
    config = (tmp_path / "home" / "origin" / ".git" / "config").read_text()
    assert token not in config and "extraHeader" not in config and "alice" not in config


def test_destination_must_follow_from_the_repository_or_be_given() -> None:
    with pytest.raises(ValueError, match="set destinationDir"):
        GitSpec(repository="file:///").destination()
    assert GitSpec(repository="git@example.com:team/proj.git").destination() == "/home/work/proj"


def test_an_existing_clone_is_kept(tmp_path: Path, origin: tuple[Path, str, str]) -> None:
    """A destination in a folder that outlives the session: the next start keeps it."""
    bare, _, _ = origin
    script = rooted(git_snippet(spec(tmp_path, repository=f"file://{bare}")), tmp_path)
    assert run(script, tmp_path).returncode == 0
    (tmp_path / "home" / "origin" / "mine.txt").write_text("work in progress\n")
    again = run(script, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already holds a git repository; not cloning again" in again.stderr
    assert (tmp_path / "home" / "origin" / "mine.txt").read_text() == "work in progress\n"
