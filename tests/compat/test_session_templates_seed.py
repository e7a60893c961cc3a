"""Seed 001's "Session Templates", end to end with both CLIs (the official 20.9.9 client and
ours) on a live platform with real Docker: create (from stdin), list, get (YAML and JSON),
update, start-template (the template's image, environment, folder and git clone in the
started session), delete; and a template without ``kind`` refused with the path of the field.

Sessions reach no address of the host, so the template's git repository is a bare repository
uploaded into a virtual folder that the template mounts, cloned over ``file://`` with a branch
and a commit. Every test works as a fresh user, so the two CLIs never collide.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.compat.conftest import Runner
from tests.compat.test_vfolder_seed import fresh_user, unique, wait_gone
from tests.fixtures.live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.compat, pytest.mark.docker]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": "/nonexistent", "PATH": "/usr/bin:/bin",
}  # fmt: skip
CREATED = re.compile(r"Task template ([0-9a-f]{32}) created and ready")
TEMPLATE = """\
---
api_version: v1
kind: taskTemplate
metadata:
  name: {name}
  tag: example-tag
spec:
  kernel:
    environ:
      MYCONFIG: XXX
    git:
      branch: main
      commit: {commit}
      repository: file:///home/work/tplrepo/repo.git
      destinationDir: /home/work/baiagent
    image: python
  resources:
    cpu: '1'
    mem: 1g
  mounts:
    tplrepo:
  sessionType: interactive
"""


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True,
                          capture_output=True, text=True)  # fmt: skip
    return done.stdout.strip()


def bare_repository(where: Path) -> tuple[Path, str]:
    """``where/repo.git``: ``main`` with two commits, packed into few files; the first
    commit's id (the template checks it out, not the branch's head)."""
    work, bare = where / "work", where / "repo.git"
    git("init", "-q", "-b", "main", str(work))
    (work / "file.txt").write_text("v1\n")
    git("add", "file.txt", cwd=work)
    git("commit", "-q", "-m", "v1", cwd=work)
    first = git("rev-parse", "HEAD", cwd=work)
    (work / "file.txt").write_text("v2\n")
    git("commit", "-q", "-am", "v2", cwd=work)
    git("init", "-q", "--bare", "-b", "main", str(bare))
    git("push", "-q", str(bare), "main", cwd=work)
    git("repack", "-a", "-d", "-q", cwd=bare)
    for extra in ("hooks", "info", "description", "branches", "logs"):
        path = bare / extra
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return bare, first


def upload_repository(cli: Runner, env: dict[str, str], where: Path) -> str:
    bare, first = bare_repository(where)
    r = cli("vfolder", "create", "tplrepo", "local", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    files = sorted(p for p in bare.rglob("*") if p.is_file())
    assert len(files) <= 8, files  # HEAD, config, packed refs and one pack
    for path in files:  # one per call: client 20.9.9 uploads only its first FILE
        r = cli("vfolder", "upload", "tplrepo", str(path.relative_to(where)), env=env, cwd=where)
        assert r.returncode == 0 and "Done." in r.stderr, r.stdout + r.stderr
    return first


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_seed_001_template_lifecycle(cli: Runner, live_server: LiveServer, tmp_path: Path) -> None:
    env = fresh_user(cli, live_server)
    commit = upload_repository(cli, env, tmp_path)
    r = cli("sesstpl", "list", env=env)
    assert (r.returncode, r.stdout) == (0, "There is no task templates created yet.\n"), r.stderr

    r = cli("sesstpl", "create", env=env, stdin=TEMPLATE.format(name="tpl1", commit=commit))
    assert r.returncode == 0, r.stdout + r.stderr
    found = CREATED.search(r.stderr)
    assert found, r.stderr
    tid = found.group(1)

    r = cli("sesstpl", "list", env=env)
    header, _, row = r.stdout.splitlines()[:3]
    assert header.split()[:2] == ["Name", "ID"] and "Created At" in header
    assert row.split()[:2] == ["tpl1", tid], r.stdout

    r = cli("sesstpl", "get", tid, env=env)
    doc = yaml.safe_load(r.stdout)
    assert doc["metadata"] == {"name": "tpl1", "tag": "example-tag"}, r.stdout + r.stderr
    assert doc["spec"]["session_type"] == "interactive" and "sessionType" not in doc["spec"]
    assert doc["spec"]["kernel"]["git"]["destination_dir"] == "/home/work/baiagent"
    assert doc["spec"]["mounts"] == {"tplrepo": None}
    r = cli("sesstpl", "get", tid, "-f", "json", env=env)
    assert json.loads(r.stdout) == doc, r.stdout + r.stderr

    r = cli("sesstpl", "update", tid, env=env, stdin=TEMPLATE.format(name="tpl2", commit=commit))
    assert r.returncode == 0 and f"Task template {tid} updated" in r.stderr, r.stdout + r.stderr
    r = cli("sesstpl", "list", env=env)
    assert r.stdout.splitlines()[2].split()[:2] == ["tpl2", tid], r.stdout

    session = unique("tpl")
    r = cli("start-template", tid, "-t", session, env=env, timeout=300)
    assert r.returncode == 0 and "is created and ready" in r.stderr, r.stdout + r.stderr
    try:
        code = (
            "import os, subprocess; print(os.environ['MYCONFIG']); "
            "print(open('/home/work/baiagent/file.txt').read().strip()); "
            "print(subprocess.run(['git', '-C', '/home/work/baiagent', 'rev-parse', 'HEAD'], "
            "capture_output=True, text=True).stdout.strip())"
        )
        r = cli("run", "-t", session, "-c", code, "python", env=env, timeout=300)
        assert r.stdout.split() == ["XXX", "v1", commit], r.stdout + r.stderr
    finally:
        cli("rm", session, env=env)
        wait_gone(cli, session, env)

    r = cli("sesstpl", "delete", tid, "-f", env=env)
    assert r.returncode == 0 and f"Task template {tid} deleted" in r.stderr, r.stdout + r.stderr
    r = cli("sesstpl", "list", env=env)
    assert r.stdout == "There is no task templates created yet.\n", r.stdout + r.stderr
    r = cli("sesstpl", "get", tid, env=env)
    assert "404 Not Found" in r.stderr, r.stdout + r.stderr


def test_seed_001_template_without_kind_is_refused(cli: Runner, live_server: LiveServer) -> None:
    env = fresh_user(cli, live_server)
    payload = TEMPLATE.format(name="nokind", commit="0" * 40).replace("kind: taskTemplate\n", "")
    r = cli("sesstpl", "create", env=env, stdin=payload)
    assert "400 Bad Request" in r.stderr and "kind: field required" in r.stderr, r.stderr
    r = cli("sesstpl", "list", env=env)
    assert r.stdout == "There is no task templates created yet.\n", r.stdout + r.stderr


def test_seed_001_failed_clone_fails_the_session_with_gits_message(
    cli: Runner, live_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    env = fresh_user(cli, live_server)
    r = cli("vfolder", "create", "tplrepo", "local", env=env)  # mounted, but holds no repository
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli("sesstpl", "create", env=env, stdin=TEMPLATE.format(name="broken", commit="0" * 40))
    found = CREATED.search(r.stderr)
    assert found, r.stdout + r.stderr
    session = unique("tplbad")
    r = cli("start-template", found.group(1), "-t", session, env=env, timeout=300)
    try:
        assert "has an error during scheduling/startup" in r.stderr, r.stdout + r.stderr
        if request.node.callspec.params["cli"] == "ours":
            assert r.returncode == 1
            assert "does not appear to be a git repository" in r.stderr, r.stderr
    finally:
        cli("rm", session, env=env)
