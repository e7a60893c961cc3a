"""``backend.ai sweep list|info|cancel``."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.client.conftest import run_cli
from tests.client.fake_server import FakeBackend

IMAGE = "python:3.9-ubuntu20.04"


def _submit(backend: FakeBackend, name: str = "exp") -> uuid.UUID:
    result = run_cli(
        "run", "--type", "batch", "--enqueue-only", "-t", name, "-c", "import os",
        "-e", "CASENO=$X", "--env-range=X=case:1,2", IMAGE,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return uuid.UUID(result.stdout.strip())


def test_sweep_info(api_mode: str, backend: FakeBackend) -> None:
    sweep_id = _submit(backend)
    backend.sweeps.sweeps[sweep_id].cases[1].exit_code = 3
    backend.sweeps.advance = False
    running = run_cli("sweep", "info", str(sweep_id))
    assert running.exit_code == 0
    assert running.stdout.splitlines()[0] == (
        f"Sweep exp ({sweep_id}): 2 cases, 2 pending, 0 running, 0 success, 0 failure, "
        "0 cancelled (in progress)"
    )
    backend.sweeps.advance = True
    run_cli("sweep", "info", str(sweep_id))
    done = run_cli("sweep", "info", str(sweep_id))
    cases = backend.sweeps.sweeps[sweep_id].cases
    assert done.stdout.splitlines() == [
        f"Sweep exp ({sweep_id}): 2 cases, 0 pending, 0 running, 1 success, 1 failure, "
        "0 cancelled (finished)",
        "  #  Session    Status      Result      Exit code  Environment    Task",
        "---  ---------  ----------  --------  -----------  -------------  ---------",
        "  0  exp-0      TERMINATED  SUCCESS             0  CASENO=1       import os",
        "  1  exp-1      TERMINATED  FAILURE             3  CASENO=2       import os",
    ]
    assert cases[0].id  # the table names sessions; --output json gives their IDs
    as_json = json.loads(run_cli("sweep", "info", "--output", "json", str(sweep_id)).stdout)
    assert as_json["id"] == str(sweep_id)
    assert [c["session_id"] for c in as_json["caseList"]] == [str(c.id) for c in cases]


def test_sweep_list(api_mode: str, backend: FakeBackend) -> None:
    empty = run_cli("sweep", "list")
    assert (empty.exit_code, empty.stdout, empty.stderr) == (0, "", "\u2219 There are no sweeps.\n")
    sweep_id = _submit(backend, "first")
    result = run_cli("sweep", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "ID", "Name", "Image", "Created", "Cases", "Pending", "Running", "Success", "Failure",
        "Cancelled", "Finished",
    ]  # fmt: skip
    assert lines[2].split() == [
        str(sweep_id), "first", IMAGE, "2026-01-02T03:04:00+00:00", "2", "2", "0", "0", "0",
        "0", "no",
    ]  # fmt: skip
    as_json = json.loads(run_cli("sweep", "list", "--output", "json").stdout)
    assert [(s["id"], s["cases"], s["finished"]) for s in as_json] == [(str(sweep_id), 2, False)]


def test_sweep_cancel(api_mode: str, backend: FakeBackend) -> None:
    sweep_id = _submit(backend)
    result = run_cli("sweep", "cancel", str(sweep_id))
    assert result.exit_code == 0
    assert result.stderr == f"\u2714 Cancelled the sweep {sweep_id}.\n"
    assert result.stdout.splitlines()[0].endswith("0 success, 0 failure, 2 cancelled (finished)")
    assert backend.paths()[-1] == f"DELETE /session/_/sweeps/{sweep_id}"


@pytest.mark.parametrize("command", ["info", "cancel"])
def test_sweep_unknown_or_invalid(api_mode: str, backend: FakeBackend, command: str) -> None:
    missing = run_cli("sweep", command, str(uuid.uuid4()))
    assert missing.exit_code == 1
    assert missing.stderr == "\u2718 BackendAPIError: 404 Not Found\n  No such sweep.\n"
    invalid = run_cli("sweep", command, "exp")
    assert invalid.exit_code == 2 and "'exp' is not a valid UUID" in invalid.stderr


def test_sweep_help() -> None:
    group = run_cli("sweep", "--help")
    assert group.exit_code == 0
    assert all(name in group.stdout for name in ("list", "info", "cancel"))
    info = run_cli("sweep", "info", "--help")
    assert "SWEEP_ID" in info.stdout and "exit code" in info.stdout
