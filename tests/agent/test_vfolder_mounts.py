"""Virtual folders as bind mounts of a new kernel (``agent/vfolder_mounts.py``), on the fake
backend: where a folder is found, what is refused, ``.ssh`` made fit for sshd, and that a kernel
with folders never takes a warm pool container."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from backendai.agent.backends.fake import FakeBackend
from backendai.agent.vfolder_mounts import VFolderUnavailable, vfolder_mount_specs
from backendai.common.agent_protocol import MountSpec, VFolderMount
from backendai.common.storage_protocol import folder_path
from tests.agent.conftest import HEADERS, create_body, make_settings
from tests.agent.test_pool import PoolAgent, start

OWNER = 65000


def make_folder(volume: Path, vfid: uuid.UUID | None = None) -> tuple[uuid.UUID, Path]:
    """A folder directory laid out as the storage process does, owned by 65000."""
    vfid = vfid or uuid.uuid4()
    path = volume / folder_path(vfid)
    path.mkdir(parents=True)
    for p in (path, path.parent, path.parent.parent):
        os.chown(p, OWNER, OWNER)
    return vfid, path


def mount(vfid: uuid.UUID, **extra: Any) -> VFolderMount:
    values: dict[str, Any] = {"name": "data", "volume": "local", "vfid": vfid,
                              "container_path": "/home/work/data"}  # fmt: skip
    return VFolderMount(**(values | extra))


def specs(tmp_path: Path, volume: Path, *mounts: VFolderMount) -> list[MountSpec]:
    settings = make_settings(tmp_path / "data", volume_mounts={"local": volume})
    return vfolder_mount_specs(settings, mounts, OWNER, OWNER)


def test_a_folder_is_found_under_its_volume(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    a, path_a = make_folder(volume)
    b, path_b = make_folder(volume)
    got = specs(
        tmp_path, volume, mount(a),
        mount(b, name="ro", container_path="/home/work/x/y", read_only=True),
    )  # fmt: skip
    assert got == [
        MountSpec(host_path=str(path_a), container_path="/home/work/data", read_only=False),
        MountSpec(host_path=str(path_b), container_path="/home/work/x/y", read_only=True),
    ]


def test_an_unknown_volume_is_refused(tmp_path: Path) -> None:
    vfid, _ = make_folder(tmp_path / "vol")
    with pytest.raises(VFolderUnavailable) as e:
        specs(tmp_path, tmp_path / "vol", mount(vfid, volume="nfs1"))
    assert "'data'" in str(e.value) and "does not mount the storage volume 'nfs1'" in str(e.value)
    assert "local" in str(e.value)  # what it does mount


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "vol").mkdir()
    vfid = uuid.uuid4()
    with pytest.raises(VFolderUnavailable) as e:
        specs(tmp_path, tmp_path / "vol", mount(vfid))
    assert "does not exist on this node" in str(e.value)
    # A file where the folder should be is no folder either.
    path = tmp_path / "vol" / folder_path(vfid)
    path.parent.mkdir(parents=True)
    path.write_text("x")
    with pytest.raises(VFolderUnavailable, match="is not a directory"):
        specs(tmp_path, tmp_path / "vol", mount(vfid))


def test_symlinks_anywhere_on_the_way_are_refused(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    vfid, path = make_folder(volume)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The folder itself a symlink (to a directory outside the volume).
    path.rmdir()
    path.symlink_to(elsewhere)
    with pytest.raises(VFolderUnavailable, match="is a symbolic link"):
        specs(tmp_path, volume, mount(vfid))
    # A middle component a symlink.
    # (A volume of its own: the first folder's random id may also start with "ab".)
    volume2 = tmp_path / "vol2"
    vfid2 = uuid.UUID("ab" + "cd" + uuid.uuid4().hex[4:])
    (volume2 / "ab").mkdir(parents=True)
    (volume2 / "ab" / "cd").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / folder_path(vfid2).split("/")[2]).mkdir()
    with pytest.raises(VFolderUnavailable, match=r"/ab/cd is a symbolic link"):
        specs(tmp_path, volume2, mount(vfid2))
    # The volume root itself reached through a symlink.
    link = tmp_path / "vol-link"
    link.symlink_to(volume)
    vfid3, _ = make_folder(volume)
    with pytest.raises(VFolderUnavailable, match="vol-link is a symbolic link"):
        specs(tmp_path, link, mount(vfid3))


@pytest.mark.parametrize("target", ["/etc/data", "/home/work", "/home/work/../x", "data"])
def test_a_container_path_outside_home_is_refused(tmp_path: Path, target: str) -> None:
    vfid, _ = make_folder(tmp_path / "vol")
    with pytest.raises(VFolderUnavailable, match="is not inside /home/work"):
        specs(tmp_path, tmp_path / "vol", mount(vfid, container_path=target))


def test_ssh_folder_is_made_fit_for_sshd(tmp_path: Path) -> None:
    vfid, path = make_folder(tmp_path / "vol")
    os.chown(path, 0, 0)
    path.chmod(0o777)
    files = {"authorized_keys": 0o644, "id_rsa": 0o644, "id_rsa.pub": 0o666, "my_key": 0o640,
             "config": 0o664}  # fmt: skip
    for name, mode in files.items():
        (path / name).write_text(
            "-----BEGIN OPENSSH PRIVATE KEY-----\n" if name == "my_key" else "x\n"
        )
        (path / name).chmod(mode)
        os.chown(path / name, 0, 0)
    outside = tmp_path / "outside"
    outside.write_text("not theirs")
    outside.chmod(0o644)
    (path / "evil").symlink_to(outside)
    got = specs(tmp_path, tmp_path / "vol", mount(vfid, name=".ssh",
                                                  container_path="/home/work/.ssh"))  # fmt: skip
    assert got[0].host_path == str(path)
    st = os.lstat(path)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o700, OWNER, OWNER)
    modes = {n: stat.S_IMODE(os.lstat(path / n).st_mode) for n in files}
    assert modes == {"authorized_keys": 0o600, "id_rsa": 0o600, "id_rsa.pub": 0o644,
                     "my_key": 0o600, "config": 0o600}  # fmt: skip
    assert {os.lstat(path / n).st_uid for n in files} == {OWNER}
    # The symlink was skipped: what it points to is untouched.
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644 and outside.stat().st_uid == 0
    assert os.lstat(path / "evil").st_uid == 0


def test_other_folders_keep_their_modes(tmp_path: Path) -> None:
    vfid, path = make_folder(tmp_path / "vol")
    path.chmod(0o755)
    (path / "authorized_keys").write_text("x")
    (path / "authorized_keys").chmod(0o644)
    specs(tmp_path, tmp_path / "vol", mount(vfid, name="ssh-notes"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert stat.S_IMODE((path / "authorized_keys").stat().st_mode) == 0o644


# --- through the agent's API, warm pool on ---------------------------------------------------


@pytest.fixture
async def pooled_with_volume(short_dir: Path) -> AsyncIterator[tuple[PoolAgent, Path]]:
    volume = short_dir / "vol"
    volume.mkdir()
    backend = FakeBackend()
    agent = await start(short_dir, backend, volume_mounts={"local": volume})
    yield agent, volume
    await agent.client.close()
    await backend.close()


async def test_a_kernel_with_folders_starts_cold_with_them(
    pooled_with_volume: tuple[PoolAgent, Path],
) -> None:
    pooled, volume = pooled_with_volume
    [member] = await pooled.until_idle(1)
    vfid, path = make_folder(volume)
    ro, ro_path = make_folder(volume)
    created = await pooled.create(vfolders=[
        mount(vfid).model_dump(mode="json"),
        mount(ro, name="ref", container_path="/home/work/ref", read_only=True).model_dump(
            mode="json"),
    ])  # fmt: skip
    assert created["container_id"] != member  # not the pool's: it has no such mounts
    assert pooled.idle() == [member]
    spec_mounts = pooled.spec(created["container_id"]).mounts
    assert MountSpec(host_path=str(path), container_path="/home/work/data") in spec_mounts
    assert MountSpec(host_path=str(ro_path), container_path="/home/work/ref",
                     read_only=True) in spec_mounts  # fmt: skip
    # A kernel without folders still takes the pool's container.
    plain = await pooled.create()
    assert plain["container_id"] == member


async def test_a_folder_that_cannot_be_mounted_fails_the_create(
    pooled_with_volume: tuple[PoolAgent, Path],
) -> None:
    pooled, _ = pooled_with_volume
    await pooled.until_idle(1)
    before = set(pooled.backend.containers)
    kernel_id = uuid.uuid4()
    body = create_body(kernel_id, vfolders=[mount(uuid.uuid4()).model_dump(mode="json")])
    resp = await pooled.client.post("/v1/kernels", json=body, headers=HEADERS)
    text = await resp.text()
    assert resp.status >= 400, text
    assert "Cannot mount the virtual folder 'data'" in text and "does not exist" in text
    assert set(pooled.backend.containers) == before  # nothing made
    assert not (pooled.data_dir / "kernels" / str(kernel_id)).exists()
