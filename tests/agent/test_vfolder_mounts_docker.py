"""Virtual folders bind-mounted into a kernel on the real Docker Engine: what a session writes
there stays on the volume, owned by the storage side's uid 65000; read-only mounts refuse
writes; ``.ssh`` is made fit for sshd; a folder may be mounted elsewhere under /home/work.

Every container made here carries this test's own agent id, removed by that label at the end.
"""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiodocker
import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.main import create_app
from backendai.common.agent_protocol import VFolderMount
from backendai.common.storage_protocol import folder_path
from tests.agent.conftest import HEADERS, IMAGE, console, create_body, make_settings, run_ws
from tests.agent.test_docker import remove_containers

pytestmark = [pytest.mark.slow, pytest.mark.docker]
OWNER = 65000


def make_folder(volume: Path) -> tuple[uuid.UUID, Path]:
    vfid = uuid.uuid4()
    path = volume / folder_path(vfid)
    path.mkdir(parents=True)
    for p in (path, path.parent, path.parent.parent):
        os.chown(p, OWNER, OWNER)
    return vfid, path


@pytest.fixture
async def client_and_volume(short_dir: Path) -> AsyncIterator[tuple[TestClient[Any, Any], Path]]:
    try:
        async with aiodocker.Docker() as docker:
            await docker.images.inspect(IMAGE)
    except Exception as e:
        pytest.fail(f"Docker with the image {IMAGE} is needed (scripts/setup.sh): {e}")
    volume = short_dir / "vol"
    volume.mkdir()
    agent_id = f"test-{uuid.uuid4().hex[:12]}"
    settings = make_settings(short_dir / "agent", id=agent_id, backend="docker", cpu=None,
                             mem=None, volume_mounts={"local": volume})  # fmt: skip
    try:
        async with TestClient(TestServer(create_app(settings))) as client:
            yield client, volume
    finally:
        await remove_containers(agent_id)


async def sh(client: TestClient[Any, Any], kernel_id: str, command: str) -> tuple[int, str]:
    frames = await run_ws(client, f"/v1/kernels/{kernel_id}/execute", "", "batch",
                          {"exec": command}, headers=HEADERS)  # fmt: skip
    return frames[-1]["exitCode"], console(frames) + console(frames, "stderr")


async def test_folders_in_a_real_container(
    client_and_volume: tuple[TestClient[Any, Any], Path],
) -> None:
    client, volume = client_and_volume
    data, data_path = make_folder(volume)
    ro, ro_path = make_folder(volume)
    ssh, ssh_path = make_folder(volume)
    other, other_path = make_folder(volume)
    (ro_path / "readme").write_text("read me\n")
    ssh_path.chmod(0o777)
    (ssh_path / "authorized_keys").write_text("ssh-ed25519 AAAA test\n")
    (ssh_path / "authorized_keys").chmod(0o666)
    folders = [
        VFolderMount(name="myfolder", volume="local", vfid=data,
                     container_path="/home/work/myfolder"),
        VFolderMount(name="ref", volume="local", vfid=ro, container_path="/home/work/ref",
                     read_only=True),
        VFolderMount(name=".ssh", volume="local", vfid=ssh, container_path="/home/work/.ssh"),
        VFolderMount(name="elsewhere", volume="local", vfid=other,
                     container_path="/home/work/other"),
    ]  # fmt: skip
    body = create_body(vfolders=[f.model_dump(mode="json") for f in folders])
    resp = await client.post("/v1/kernels", json=body, headers=HEADERS)
    assert resp.status == 200, await resp.text()
    kernel_id = (await resp.json())["kernel_id"]

    # A file made in the session is on the volume, the storage side's (65000), readable by root.
    code, out = await sh(client, kernel_id, "touch /home/work/myfolder/file-preserved && id -u")
    assert code == 0 and out.strip() == str(OWNER), out
    made = data_path / "file-preserved"
    st = os.lstat(made)
    assert stat.S_ISREG(st.st_mode) and (st.st_uid, st.st_gid) == (OWNER, OWNER)
    assert made.read_bytes() == b""  # root (the storage process) reads it
    # And what the storage side puts there the session reads and may change.
    (data_path / "from-storage").write_text("hello\n")
    os.chown(data_path / "from-storage", OWNER, OWNER)
    code, out = await sh(client, kernel_id, "cat /home/work/myfolder/from-storage && "
                         "echo more >> /home/work/myfolder/from-storage")  # fmt: skip
    assert code == 0 and out == "hello\n", out
    assert (data_path / "from-storage").read_text() == "hello\nmore\n"

    # Read-only: readable, never writable.
    code, out = await sh(client, kernel_id, "cat /home/work/ref/readme; touch /home/work/ref/x")
    assert code != 0 and "read me" in out and "Read-only file system" in out, out
    assert sorted(p.name for p in ro_path.iterdir()) == ["readme"]

    # .ssh as sshd wants it.
    code, out = await sh(client, kernel_id, "stat -c '%a %u' /home/work/.ssh "
                         "/home/work/.ssh/authorized_keys")  # fmt: skip
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"700 {OWNER}" and lines[1] == f"600 {OWNER}", out
    # The session's own key is made (id_container), but never appended to the kept folder.
    code, out = await sh(client, kernel_id, "for i in $(seq 50); do "
                         "[ -f /home/work/id_container ] && break; sleep 0.1; done; "
                         "ls /home/work/id_container")  # fmt: skip
    assert code == 0, out
    assert (ssh_path / "authorized_keys").read_text() == "ssh-ed25519 AAAA test\n"

    # Mounted at another path under /home/work.
    code, out = await sh(client, kernel_id, "echo there > /home/work/other/note && ls /home/work")
    assert code == 0, out
    assert (other_path / "note").read_text() == "there\n"
    assert {"myfolder", "ref", "other"} <= set(out.split())
