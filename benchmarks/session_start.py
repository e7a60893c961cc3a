"""A whole session from the command line, against the same code in a bare container.

    .venv/bin/python benchmarks/session_start.py [--runs 10] [--pause 1.0]

Measures, in rounds (the order rotates every round so that drift hits all alike):

* ``backend.ai run --rm -c "print(1)" python`` with Backend.AI's official client 20.9.9
  (``.venv-compat``) and with ours (``.venv``): session created, code run, session removed;
* the baseline ``docker run --rm IMAGE python3 -c "print(1)"``;
* for reference, each client against a stub manager that answers at once (``stub_manager``):
  the client's own floor (start-up, requests, exit), which no server can take away.

Each command must exit 0 and print ``1``. One warm-up round is not counted. ``--pause``
seconds pass between commands, so that each one finds the platform settled (the warm pool
refilled, the previous session's container removed) as a user typing commands would.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness import IMAGE, Figures, Platform, add_platform_options, platform, report, timed
from stub_manager import StubManager

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL = ROOT / ".venv-compat" / "bin" / "backend.ai"
OURS = ROOT / ".venv" / "bin" / "backend.ai"
RUN = ["run", "--rm", "-c", "print(1)", "python"]


Subjects = dict[str, tuple[list[str], dict[str, str] | None]]


def subjects(p: Platform, stub: StubManager, image: str) -> Subjects:
    env, floor = p.client_env(), Platform(stub.endpoint, p.access_key, p.secret_key).client_env()
    found: Subjects = {
        "docker run --rm (baseline)": (
            ["docker", "run", "--rm", image, "python3", "-c", "print(1)"],
            None,
        ),
    }
    for name, path in (("official 20.9.9", OFFICIAL), ("ours", OURS)):
        if path.exists():
            found[f"backend.ai run --rm ({name})"] = ([str(path), *RUN], env)
            found[f"  its floor: {name} client, instant stub"] = ([str(path), *RUN], floor)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_platform_options(parser)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between commands")
    parser.add_argument("--image", default=IMAGE, help="the baseline's image")
    args = parser.parse_args()
    with platform(args) as p, StubManager() as stub:
        runs = subjects(p, stub, args.image)
        for name, (command, env) in list(runs.items()):  # the warm-up round
            try:
                timed(command, env)
            except SystemExit as e:
                print(f"# left out {name}: {e}", file=sys.stderr)
                del runs[name]
            time.sleep(args.pause)
        samples: dict[str, list[float]] = {name: [] for name in runs}
        names = list(runs)
        for i in range(args.runs):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                command, env = runs[name]
                samples[name].append(timed(command, env))
                time.sleep(args.pause)
    rows = [Figures(name, samples[name]) for name in names]
    baseline = rows[0]
    report("Session start: create, run print(1), remove", rows, baseline, "ms", args.json)


if __name__ == "__main__":
    main()
