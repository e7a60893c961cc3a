"""A whole session with a mounted virtual folder, against one without and a bare container.

    .venv/bin/python benchmarks/session_start_vfolder.py [--runs 10] [--pause 1.0]

Starts its own ``backendai-server up`` (or uses ``--endpoint``), as ``session_start.py`` does,
and creates the folder ``benchdata`` with ``backend.ai vfolder create``. Then, in rounds whose
order rotates:

* ``backend.ai run --rm -m benchdata -c CODE python`` (ours): a cold container (a session with
  folders never takes a warm pool container: it was made without the mount);
* ``backend.ai run --rm -c CODE python`` (ours): the same without a mount (the warm pool);
* ``docker run --rm IMAGE python3 -c CODE`` (the baseline);
* for reference, a cold start without a mount: ``--resource-opts shmem=128m`` (not the
  agent's default /dev/shm size, so no pool container fits): what the mount itself adds.

CODE prints ``1`` only when /home/work/benchdata is a mounted directory in the session (``0``
elsewhere, which the baseline prints, so it runs the same statement). One warm-up round.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from harness import (
    IMAGE,
    Figures,
    add_platform_options,
    platform,
    report,
    timed,
)

ROOT = Path(__file__).resolve().parent.parent
OURS = ROOT / ".venv" / "bin" / "backend.ai"
FOLDER = "benchdata"
CODE = f"print(int(any(m.split()[1] == '/home/work/{FOLDER}' for m in open('/proc/mounts'))))"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_platform_options(parser)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between commands")
    args = parser.parse_args()
    with platform(args) as p:
        env = p.client_env()
        # A folder of its own (a platform given by --endpoint may have one of that name).
        made = subprocess.run([str(OURS), "vfolder", "create", FOLDER], env=env,
                              capture_output=True, text=True, check=False)  # fmt: skip
        if made.returncode != 0 and "already" not in made.stderr:
            raise SystemExit(f"vfolder create {FOLDER} failed: {made.stderr.strip()}")
        runs: dict[str, tuple[list[str], dict[str, str] | None, str]] = {
            "docker run --rm (baseline)": (
                ["docker", "run", "--rm", IMAGE, "python3", "-c", CODE], None, "0"
            ),
            f"backend.ai run --rm -m {FOLDER} (cold, no pool)": (
                [str(OURS), "run", "--rm", "-m", FOLDER, "-c", CODE, "python"], env, "1"
            ),
            "backend.ai run --rm, no mount (warm pool)": (
                [str(OURS), "run", "--rm", "-c", CODE, "python"], env, "0"
            ),
            "  for reference: no mount, cold (shmem=128m)": (
                [str(OURS), "run", "--rm", "--resource-opts", "shmem=128m", "-c", CODE,
                 "python"], env, "0"
            ),
        }  # fmt: skip
        for command, cenv, expect in runs.values():  # the warm-up round
            timed(command, cenv, expect)
            time.sleep(args.pause)
        names = list(runs)
        samples: dict[str, list[float]] = {name: [] for name in names}
        for i in range(args.runs):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                command, cenv, expect = runs[name]
                samples[name].append(timed(command, cenv, expect))
                time.sleep(args.pause)
    rows = [Figures(name, samples[name]) for name in names]
    report("Session start with a mounted folder: create, run, remove", rows, rows[0], "ms",
           args.json)  # fmt: skip


if __name__ == "__main__":
    main()
