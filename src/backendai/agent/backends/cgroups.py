"""A container's counters and limits, straight from the host's cgroup and proc files.

Docker 20.10 answers a stats request only at its collector's next one-second tick, even with
``one-shot``, and a limits update goes through containerd to a new runc process (20-60 ms);
the same files read or written here cost microseconds. The cgroup of the container's first
process is found in ``/proc/PID/cgroup`` (v1: one hierarchy per controller; v2: the unified
one), whatever the cgroup driver or parent. When the files are not visible (an agent in a
container of its own, say) ``read_stats`` and ``write_limits`` say so and the caller asks the
Engine API instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from backendai.agent.backends.protocol import Limits, Stats
from backendai.agent.resources import format_cpuset

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_ROOT = Path("/proc")
_UNLIMITED = 2**60  # cgroup v1 writes "no limit" as a huge number
CFS_PERIOD = 100_000  # µs; what Docker uses for NanoCpus


def _text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _number(path: Path) -> int | None:
    text = (_text(path) or "").strip()
    return int(text) if text.isdigit() else None


def _keyed(path: Path, key: str) -> int | None:
    """``KEY N`` from a flat-keyed file (memory.stat, cpu.stat)."""
    for line in (_text(path) or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def _cgroups(container_id: str, pid: int, proc: Path) -> tuple[dict[str, str], str | None] | None:
    """(v1 controller -> path, v2 path) of the container's process ``pid``; None unless every
    path is the container's own (it names the container, as Docker's always do): never the
    root cgroup, a path outside our cgroup namespace, or a process that is not the container's
    any more."""
    text = _text(proc / str(pid) / "cgroup") if pid > 0 and container_id else None
    if text is None:
        return None
    v1: dict[str, str] = {}
    v2 = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if container_id not in path or ".." in path.split("/"):
            if controllers in ("", "name=systemd") and path in ("", "/"):
                continue  # the unified or systemd hierarchy of a v1 host: not used
            return None
        if not controllers:
            v2 = path
        for controller in filter(None, controllers.split(",")):
            v1[controller] = path
    return v1, v2


def _counters(
    container_id: str, pid: int, root: Path, proc: Path
) -> tuple[int, int, int | None, int | None] | None:
    """(cpu msec, memory bytes without reclaimable cache, peak bytes, limit bytes)."""
    found = _cgroups(container_id, pid, proc)
    if found is None:
        return None
    v1, v2 = found
    if "memory" in v1 and "cpuacct" in v1:
        memory = root / "memory" / v1["memory"].lstrip("/")
        usage = _number(memory / "memory.usage_in_bytes")
        cpu_ns = _number(root / "cpuacct" / v1["cpuacct"].lstrip("/") / "cpuacct.usage")
        if usage is None or cpu_ns is None:
            return None
        cache = _keyed(memory / "memory.stat", "total_inactive_file") or 0
        limit = _number(memory / "memory.limit_in_bytes")
        peak = _number(memory / "memory.max_usage_in_bytes")
        return cpu_ns // 1_000_000, max(0, usage - cache), peak, limit
    if v2 is not None:
        group = root / v2.lstrip("/")
        usage = _number(group / "memory.current")
        cpu_us = _keyed(group / "cpu.stat", "usage_usec")
        if usage is None or cpu_us is None:
            return None
        cache = _keyed(group / "memory.stat", "inactive_file") or 0
        return (
            cpu_us // 1000,
            max(0, usage - cache),
            _number(group / "memory.peak"),
            _number(group / "memory.max"),
        )
    return None


def _network(pid: int, proc: Path) -> tuple[int, int]:
    """Bytes received and sent on the container's interfaces (loopback aside)."""
    rx = tx = 0
    for line in (_text(proc / str(pid) / "net" / "dev") or "").splitlines()[2:]:
        name, _, numbers = line.partition(":")
        fields = numbers.split()
        if name.strip() == "lo" or len(fields) < 9:
            continue
        rx, tx = rx + int(fields[0]), tx + int(fields[8])
    return rx, tx


def read_stats(
    container_id: str, pid: int, root: Path = CGROUP_ROOT, proc: Path = PROC_ROOT
) -> Stats | None:
    """Backend.AI's last_stat shape for the container whose first process is ``pid``."""
    counters = _counters(container_id, pid, root, proc)
    if counters is None:
        return None
    cpu, memory, peak, limit = counters
    rx, tx = _network(pid, proc)
    return {
        "cpu_used": {"current": str(cpu), "capacity": None, "unit_hint": "msec"},
        "mem": {
            "current": str(memory),
            "capacity": str(limit) if limit is not None and limit < _UNLIMITED else None,
            "unit_hint": "bytes",
            "stats.max": None if peak is None else str(peak),
        },
        "net_rx": {"current": str(rx), "capacity": None, "unit_hint": "bytes"},
        "net_tx": {"current": str(tx), "capacity": None, "unit_hint": "bytes"},
    }


def _write(path: Path, value: str) -> None:
    with path.open("w") as f:  # one write(2): the kernel applies it or refuses it (OSError)
        f.write(value)


def _v1_memory(group: Path, limit: int) -> None:
    """memory and memory+swap limits, in the order that keeps memsw >= memory throughout."""
    memsw = group / "memory.memsw.limit_in_bytes"  # absent without swap accounting
    current = _number(group / "memory.limit_in_bytes") or 0
    steps = [(group / "memory.limit_in_bytes", limit), (memsw, limit)]
    for path, value in steps if limit <= current else reversed(steps):
        if path.exists():
            _write(path, str(value))


def write_limits(
    container_id: str, pid: int, limits: Limits, root: Path = CGROUP_ROOT, proc: Path = PROC_ROOT
) -> bool:
    """Apply ``limits`` to the running container whose first process is ``pid``, as runc
    would. False when its cgroup files are not ours to write (nothing was changed then);
    OSError when the kernel refuses a value (a memory limit below what is in use)."""
    found = _cgroups(container_id, pid, proc)
    if found is None:
        return False
    v1, v2 = found
    quota = str(int(limits.cpu * CFS_PERIOD))
    cpus = format_cpuset(limits.cpuset)
    if all(c in v1 for c in ("cpu", "cpuset", "memory", "pids")):
        groups = {c: root / c / v1[c].lstrip("/") for c in ("cpu", "cpuset", "memory", "pids")}
        if not all(os.access(g, os.W_OK) for g in groups.values()):
            return False
        _write(groups["cpu"] / "cpu.cfs_period_us", str(CFS_PERIOD))
        _write(groups["cpu"] / "cpu.cfs_quota_us", quota)
        _write(groups["cpuset"] / "cpuset.cpus", cpus)
        _v1_memory(groups["memory"], limits.memory)
        _write(groups["pids"] / "pids.max", str(limits.pids_limit))
        return True
    if v2 is not None and not v1:
        group = root / v2.lstrip("/")
        if not os.access(group / "cpu.max", os.W_OK):
            return False
        _write(group / "cpu.max", f"{quota} {CFS_PERIOD}")
        _write(group / "cpuset.cpus", cpus)
        _write(group / "memory.max", str(limits.memory))
        _write(group / "pids.max", str(limits.pids_limit))
        return True
    return False
