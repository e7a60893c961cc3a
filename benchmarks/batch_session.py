"""A batch job from the command line, against the same code in a bare container.

    .venv/bin/python benchmarks/batch_session.py [--runs 10] [--pause 1.0] [--cases 4]

Measures, in rounds (the order rotates every round so that drift hits all alike):

* ``backend.ai run --type batch -c "print(1)" python`` (ours): the job submitted as a
  server-side sweep of one batch session, its task log followed until the session ended with
  its result, the exit code returned;
* the baseline ``docker run --rm IMAGE python3 -c "print(1)"``;
* a sweep of ``--cases`` cases (``-e 'N=$X' --env-range X=range:0,CASES``), all of them to
  their results, against the same number of ``docker run --rm`` started two at a time (the
  sweep's cases are 1 core each on this 2-core machine, so the scheduler runs two at a time).

Each command must exit 0 and print ``1`` (the sweep: its summary). One warm-up round is not
counted. ``--pause`` seconds pass between commands, so that each finds the platform settled.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import IMAGE, Figures, add_platform_options, platform, report, timed

ROOT = Path(__file__).resolve().parent.parent
OURS = ROOT / ".venv" / "bin" / "backend.ai"


def docker_pairs(image: str, cases: int) -> float:
    """Seconds for ``cases`` bare containers, two at a time."""
    command = ["docker", "run", "--rm", image, "python3", "-c", "print(1)"]
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: subprocess.run(command, capture_output=True,
                                                          check=False), range(cases)))  # fmt: skip
    elapsed = time.perf_counter() - start
    if any(r.returncode != 0 for r in results):
        raise SystemExit(f"docker run failed: {results[0].stderr!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_platform_options(parser)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between commands")
    parser.add_argument("--image", default=IMAGE, help="the baseline's image")
    parser.add_argument("--cases", type=int, default=4, help="cases of the sweep")
    args = parser.parse_args()
    single = [str(OURS), "run", "--type", "batch", "-q", "-c", "print(1)", "python"]
    code = "import os; print(os.environ['N'])"
    cases = f"--env-range=X=range:0,{args.cases}"
    sweep = [str(OURS), "run", "--type", "batch", "-c", code, "-r", "cpu=1", "-e", "N=$X",
             cases, "python"]  # fmt: skip
    with platform(args) as p:
        env = p.client_env()
        runs = {
            "docker run --rm (baseline)": lambda: timed(
                ["docker", "run", "--rm", args.image, "python3", "-c", "print(1)"]
            ),
            "backend.ai run --type batch (ours)": lambda: timed(single, env),
            f"docker run --rm x{args.cases}, 2 at a time": lambda: docker_pairs(
                args.image, args.cases
            ),
            f"backend.ai run --type batch, sweep of {args.cases}": lambda: timed(
                sweep, env, expect=None
            ),
        }
        for run in runs.values():  # the warm-up round
            run()
            time.sleep(args.pause)
        samples: dict[str, list[float]] = {name: [] for name in runs}
        names = list(runs)
        for i in range(args.runs):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                samples[name].append(runs[name]())
                time.sleep(args.pause)
    rows = [Figures(name, samples[name]) for name in names]
    report("Batch job: submit, run print(1), result", rows[:2], rows[0], "ms", None)
    report(f"Sweep of {args.cases} cases to their results", rows[2:], rows[2], "s", args.json)
    print("# rows above: median, p90, min; ratio against the first row", file=sys.stderr)


if __name__ == "__main__":
    main()
