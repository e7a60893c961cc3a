"""The compute-session SDK: creation, REST calls, file transfer (sync and async)."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from backendai.client import AsyncSession, BackendAPIError, BackendClientError, Session
from backendai.client.func.compute_session import ComputeSession, Kernel
from tests.client.fake_server import FakeBackend

CREATE_BODY: dict[str, Any] = {
    "tag": None,
    "name": "mysess",
    "config": {
        "mounts": ["myfolder", "shared"],
        "environ": {"KEY": "VAL"},
        "resources": {"cpu": "3", "mem": "2g", "cuda.shares": "0.5"},
        "resource_opts": {"shmem": "64m"},
        "scalingGroup": None,
        "mount_map": {"myfolder": "/home/work/data"},
        "preopen_ports": [8000],
    },
    "clusterSize": 1,
    "clusterMode": "single-node",
    "starts_at": None,
    "bootstrap_script": None,
    "owner_access_key": None,
    "domain": "default",
    "group": "default",
    "type": "interactive",
    "enqueueOnly": False,
    "maxWaitSeconds": 0,
    "reuseIfExists": True,
    "startupCommand": None,
    "image": "python:3.6-ubuntu18.04",
}


def _last(backend: FakeBackend, method: str, prefix: str) -> Any:
    return [r for r in backend.requests if r.method == method and r.path.startswith(prefix)][-1]


def test_get_or_create_sends_the_contract_body(
    api_mode: str, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKEND_VFOLDER_MOUNTS", "shared,myfolder")
    with Session() as api:
        sess = api.ComputeSession.get_or_create(
            "python:3.6-ubuntu18.04",
            name="mysess",
            mounts=["myfolder"],
            mount_map={"myfolder": "/home/work/data"},
            envs={"KEY": "VAL"},
            resources={"cpu": "3", "mem": "2g", "cuda.shares": "0.5"},
            resource_opts={"shmem": "64m"},
            preopen_ports=[8000],
        )
    request = _last(backend, "POST", "/session")
    assert list(request.json()) == list(CREATE_BODY)  # the key order too
    assert request.json() == CREATE_BODY
    assert request.headers["Content-Type"] == "application/json"
    assert isinstance(sess.id, UUID) and str(sess.id) == backend.sessions.find("mysess").id
    assert (sess.name, sess.status, sess.created) == ("mysess", "RUNNING", True)
    assert [p["name"] for p in sess.service_ports] == ["jupyter", "sshd"]
    assert (sess.domain, sess.group) == ("default", "default")


def test_reuse_and_generated_names(api_mode: str, backend: FakeBackend) -> None:
    with Session() as api:
        first = api.ComputeSession.get_or_create("img", domain_name="d1", group_name="g1")
        assert first.name is not None and first.name.startswith("pysdk-")
        assert len(first.name) == len("pysdk-") + 10
        again = api.ComputeSession.get_or_create("img", name=first.name)
        assert (again.created, again.id) == (False, first.id)
        # The manager spells it service_ports when reusing; it is read all the same.
        assert [p["name"] for p in again.service_ports] == ["jupyter", "sshd"]
        with pytest.raises(BackendAPIError) as info:
            api.ComputeSession.get_or_create("img", name=first.name, no_reuse=True)
        assert info.value.type.endswith("/session-already-exists")
        with pytest.raises(BackendClientError, match="4 to 64"):
            api.ComputeSession.get_or_create("img", name="abc")
    body = _last(backend, "POST", "/session").json()
    assert body["reuseIfExists"] is False


def test_status_other_than_running(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.create_status = "PENDING"
    with Session() as api:
        sess = api.ComputeSession.get_or_create("img", name="queued", enqueue_only=True)
    assert sess.status == "PENDING"
    assert _last(backend, "POST", "/session").json()["enqueueOnly"] is True


def test_create_answer_without_session_id(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.create_answer = {"status": "RUNNING"}
    with Session() as api, pytest.raises(BackendClientError, match="session ID"):
        api.ComputeSession.get_or_create("img", name="mysess")


def test_rest_calls_by_name(api_mode: str, backend: FakeBackend) -> None:
    backend.sessions.destroy_stats = {"status": "terminated", "version": 2}
    with Session() as api:
        api.ComputeSession.get_or_create("img", name="mysess")
        sess = api.ComputeSession("mysess")
        assert sess.get_info()["image"] == "img"
        assert sess.get_logs() == {"result": {"logs": "log line 1\nlog line 2"}}
        sess.restart()
        backend.sessions.container_files = {"a.txt": b"hello"}
        listing = sess.list_files("/home/work")
        assert '"filename": "a.txt"' in listing["files"]
        assert sess.destroy() == {"stats": {"status": "terminated", "version": 2}}
        with pytest.raises(BackendAPIError) as info:
            sess.destroy()
        assert info.value.status == 404
    paths = backend.paths()
    assert "GET /session/mysess" in paths and "PATCH /session/mysess" in paths
    files_rq = _last(backend, "GET", "/session/mysess/files")
    assert files_rq.json() == {"path": "/home/work"}  # a JSON body on GET
    assert paths[-1] == "DELETE /session/mysess"


def test_owner_and_forced_params(api_mode: str, backend: FakeBackend) -> None:
    with Session() as api:
        api.ComputeSession.get_or_create("img", name="theirs")
        api.ComputeSession("theirs", "AKOTHER").destroy(forced=True)
    assert backend.paths()[-1] == "DELETE /session/theirs?owner_access_key=AKOTHER&forced=true"


def test_upload_multipart(
    api_mode: str, backend: FakeBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "main.py").write_text("print('main')\n")
    (tmp_path / "src" / "lib.py").write_text("X = 1\n")
    monkeypatch.chdir(tmp_path)
    with Session() as api:
        sess = api.ComputeSession.get_or_create("img", name="mysess")
        sess.upload(["main.py", "src/lib.py"])
        with pytest.raises(BackendClientError, match="outside of the base directory"):
            sess.upload([str(tmp_path / "main.py")], basedir=tmp_path / "src")
    uploaded = backend.sessions.sessions["mysess"].uploads
    assert uploaded == {"main.py": b"print('main')\n", "src/lib.py": b"X = 1\n"}
    request = _last(backend, "POST", "/session/mysess/upload")
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")


def test_download_extracts_tar_parts(api_mode: str, backend: FakeBackend, tmp_path: Path) -> None:
    backend.sessions.container_files = {"id_container": b"KEY", "out/result.txt": b"42\n"}
    with Session() as api:
        sess = api.ComputeSession.get_or_create("img", name="mysess")
        answer = sess.download(["id_container", "out/result.txt"], dest=tmp_path / "dl")
        with pytest.raises(BackendAPIError, match="not found"):
            sess.download(["missing"], dest=tmp_path)
    assert answer == {"file_names": ["id_container", "result.txt"]}
    assert (tmp_path / "dl" / "id_container").read_bytes() == b"KEY"
    assert (tmp_path / "dl" / "result.txt").read_bytes() == b"42\n"
    downloads = [r for r in backend.requests if r.path == "/session/mysess/download"]
    assert downloads[0].json() == {"files": ["id_container", "out/result.txt"]}
    assert downloads[0].headers["Content-Type"] == "application/json"


def test_download_refuses_escaping_archives(tmp_path: Path) -> None:
    from backendai.client.func.session_files import _extract

    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../escaped")
        tar.addfile(info)
    with pytest.raises((BackendClientError, tarfile.TarError)):
        _extract(archive, tmp_path / "dest")
    assert not (tmp_path / "escaped").exists()


async def test_async_session_objects(api_mode: str, backend: FakeBackend) -> None:
    async with AsyncSession() as api:
        sess = await api.ComputeSession.get_or_create("img", name="mysess")
        assert isinstance(sess, ComputeSession)
        assert (await sess.get_info())["status"] == "RUNNING"
        by_id = api.ComputeSession.from_session_id(str(sess.id))
        assert by_id.ref == str(sess.id)  # no name known: REST paths use the UUID
        assert await by_id.destroy() == {"stats": None}
    assert backend.paths()[-1] == f"DELETE /session/{sess.id}"


def test_kernel_alias(api_mode: str) -> None:
    assert Kernel is ComputeSession
    with Session() as api:
        assert api.Kernel is api.ComputeSession


def test_session_mode_uses_func_prefix(
    session_mode: str, backend: FakeBackend, state_dir: Path
) -> None:
    from backendai.client import local_state

    backend.tokens.add("tok")
    local_state.save(
        local_state.LoginState("u", session_mode, {"AIOHTTP_SESSION": "tok"}), state_dir
    )
    with Session(state_dir=state_dir) as api:
        sess = api.ComputeSession.get_or_create("img", name="mysess")
        assert sess.execute("print(1)")["console"] == [["stdout", "hello\n"]]
    assert "POST /func/session" in backend.paths()
    assert f"GET /func/stream/session/{sess.id}/execute" in backend.paths()
