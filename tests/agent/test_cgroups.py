"""Counters and limits through the host's cgroup files, on fake /proc and /sys/fs/cgroup trees."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from backendai.agent.backends.cgroups import read_stats, write_limits
from backendai.agent.backends.protocol import Limits

CID = "4c5888de2f018482b22444178cb1d897988b15c673eb55cfcd018ade4e497cdb"
PID = 4242
MiB = 2**20


def _files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def v1_host(tmp_path: Path, group: str = f"/docker/{CID}") -> tuple[Path, Path]:
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    lines = [f"{i}:{c}:{group}" for i, c in enumerate(
        ["cpu", "cpuacct", "cpuset", "memory", "pids", "name=systemd"], start=1
    )] + ["0::/"]  # fmt: skip
    _files(proc, {f"{PID}/cgroup": "\n".join(lines) + "\n",
                  f"{PID}/net/dev": "Inter-|\n face |\n    lo: 99 0 0 0 0 0 0 0 99 0\n"
                                    "  eth0: 1000 5 0 0 0 0 0 0 2000 7\n"})  # fmt: skip
    g = group.lstrip("/")
    _files(root, {
        f"cpuacct/{g}/cpuacct.usage": "2500000000\n",
        f"cpu/{g}/cpu.cfs_period_us": "100000\n", f"cpu/{g}/cpu.cfs_quota_us": "100000\n",
        f"cpuset/{g}/cpuset.cpus": "0-1\n",
        f"memory/{g}/memory.usage_in_bytes": str(50 * MiB),
        f"memory/{g}/memory.stat": f"cache 1\ntotal_inactive_file {10 * MiB}\n",
        f"memory/{g}/memory.max_usage_in_bytes": str(60 * MiB),
        f"memory/{g}/memory.limit_in_bytes": str(256 * MiB),
        f"memory/{g}/memory.memsw.limit_in_bytes": str(256 * MiB),
        f"pids/{g}/pids.max": "4096\n",
    })  # fmt: skip
    return proc, root


def v2_host(tmp_path: Path) -> tuple[Path, Path]:
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    group = f"system.slice/docker-{CID}.scope"
    _files(proc, {f"{PID}/cgroup": f"0::/{group}\n"})
    _files(root, {
        f"{group}/cpu.stat": "usage_usec 1500000\nuser_usec 1\n", f"{group}/cpu.max": "max 100000",
        f"{group}/cpuset.cpus": "", f"{group}/memory.current": str(30 * MiB),
        f"{group}/memory.stat": f"anon 1\ninactive_file {5 * MiB}\n",
        f"{group}/memory.max": "max\n", f"{group}/pids.max": "max\n",
    })  # fmt: skip
    return proc, root


def test_v1_counters(tmp_path: Path) -> None:
    proc, root = v1_host(tmp_path)
    stats = read_stats(CID, PID, root, proc)
    assert stats is not None
    assert stats["cpu_used"]["current"] == "2500"
    assert stats["mem"] == {"current": str(40 * MiB), "capacity": str(256 * MiB),
                            "unit_hint": "bytes", "stats.max": str(60 * MiB)}  # fmt: skip
    assert (stats["net_rx"]["current"], stats["net_tx"]["current"]) == ("1000", "2000")


def test_v2_counters(tmp_path: Path) -> None:
    proc, root = v2_host(tmp_path)
    stats = read_stats(CID, PID, root, proc)
    assert stats is not None
    assert stats["cpu_used"]["current"] == "1500"
    assert (stats["mem"]["current"], stats["mem"]["capacity"]) == (str(25 * MiB), None)


@pytest.mark.parametrize("memory", [128 * MiB, 1024 * MiB])  # lowered, then raised
def test_v1_limits(tmp_path: Path, memory: int) -> None:
    proc, root = v1_host(tmp_path)
    assert write_limits(CID, PID, Limits(Decimal("1.5"), [1], memory, 100), root, proc)
    g = f"docker/{CID}"
    assert (root / f"cpu/{g}/cpu.cfs_quota_us").read_text() == "150000"
    assert (root / f"cpuset/{g}/cpuset.cpus").read_text() == "1"
    assert (root / f"memory/{g}/memory.limit_in_bytes").read_text() == str(memory)
    assert (root / f"memory/{g}/memory.memsw.limit_in_bytes").read_text() == str(memory)
    assert (root / f"pids/{g}/pids.max").read_text() == "100"


def test_v2_limits(tmp_path: Path) -> None:
    proc, root = v2_host(tmp_path)
    assert write_limits(CID, PID, Limits(Decimal("0.5"), [0, 1], 512 * MiB, 64), root, proc)
    group = root / f"system.slice/docker-{CID}.scope"
    assert (group / "cpu.max").read_text() == "50000 100000"
    assert (group / "cpuset.cpus").read_text() == "0,1"
    assert (group / "memory.max").read_text() == str(512 * MiB)
    assert (group / "pids.max").read_text() == "64"


@pytest.mark.parametrize("group", ["/", "/docker/someone-else", f"/../{CID}"])
def test_never_a_cgroup_that_is_not_the_containers(tmp_path: Path, group: str) -> None:
    """The host's root cgroup, another container's, one outside our namespace: untouched."""
    proc, root = v1_host(tmp_path, group)
    limits = Limits(Decimal(1), [0], 64 * MiB, 10)
    assert read_stats(CID, PID, root, proc) is None
    assert write_limits(CID, PID, limits, root, proc) is False
    assert read_stats(CID, 0, root, proc) is None  # no process: not running
    written = [p.read_text() for p in root.rglob("*.max")]
    assert written == ["4096\n"]


def test_without_cgroup_files(tmp_path: Path) -> None:
    proc, _ = v1_host(tmp_path)
    assert read_stats(CID, PID, tmp_path / "nothing", proc) is None
    limits = Limits(Decimal(1), [0], 64 * MiB, 10)
    assert write_limits(CID, PID, limits, tmp_path / "nothing", proc) is False
