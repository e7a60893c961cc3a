"""``POST SESSION_SWEEPS``: one request for the batch sessions of every combination of its
ranges, all queued or none (seed 001, "Running concurrent experiment sessions")."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from backendai.common.batch_tasks import MAX_SWEEP_CASES, SESSION_SWEEPS, BatchTask
from backendai.common.statuses import SessionStatus, SessionType
from backendai.manager.db.models import KeyPairResourcePolicy, Session, Sweep
from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import count_sessions, create
from tests.manager.fake_agent import FakeAgent

SEED_CODE = 'import os; print("Hello world, {}".format(os.environ["CASENO"]))'


def sweep_body(**extra: Any) -> dict[str, Any]:
    """Seed 001's example: ``run -c CODE -r cpu=1 -r mem=256m -e 'CASENO=$X'
    --env-range=X=case:1,2,3,4``, as a server-side sweep."""
    body: dict[str, Any] = {
        "name": "seed", "image": "python", "code": SEED_CODE, "environ": {"CASENO": "$X"},
        "env_range": ["X=case:1,2,3,4"], "config": {"resources": {"cpu": "1", "mem": "256m"}},
    }  # fmt: skip
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


async def post_sweep(
    platform: ManagerHarness, as_: str = "demo", **extra: Any
) -> tuple[int, dict[str, Any]]:
    resp = await platform.signed("POST", SESSION_SWEEPS, as_=as_, body=sweep_body(**extra))
    return resp.status, await resp.json()


async def sweep_rows(platform: ManagerHarness) -> int:
    async with platform.ctx.db() as db:
        return int(await db.scalar(sa.select(sa.func.count()).select_from(Sweep)) or 0)


async def sessions_of(platform: ManagerHarness, sweep_id: str) -> list[Session]:
    async with platform.ctx.db() as db:
        rows = await db.scalars(sa.select(Session).where(Session.sweep_id == uuid.UUID(sweep_id)))
        return sorted(rows, key=lambda s: int(s.name.rsplit("-", 1)[1]))


async def test_seed_example_queues_four_batch_sessions(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    status, body = await post_sweep(platform)
    assert status == 201, body
    assert body["name"] == "seed" and body["cases"] == 4
    assert body["image"] == "backendai/python:3.11-debian12"
    assert body["counts"] == {"pending": 4, "running": 0, "success": 0, "failure": 0,
                              "cancelled": 0}  # fmt: skip
    assert body["finished"] is False
    cases = body["caseList"]
    assert [c["index"] for c in cases] == [0, 1, 2, 3]
    assert [c["session_name"] for c in cases] == ["seed-0", "seed-1", "seed-2", "seed-3"]
    assert [c["environ"]["CASENO"] for c in cases] == ["1", "2", "3", "4"]
    assert {c["task"] for c in cases} == {SEED_CODE}
    assert {(c["status"], c["result"], c["exit_code"]) for c in cases} == {
        ("PENDING", "UNDEFINED", None)
    }
    rows = await sessions_of(platform, body["id"])
    assert [str(r.id) for r in rows] == [c["session_id"] for c in cases]
    for r in rows:
        assert r.session_type is SessionType.BATCH and r.status is SessionStatus.PENDING
        assert BatchTask.model_validate(r.task) == BatchTask(mode="query", code=SEED_CODE)
        assert r.startup_command == SEED_CODE
        assert r.requested_slots["cpu"] == "1"
    async with platform.ctx.db() as db:
        sweep = await db.get_one(Sweep, rows[0].sweep_id)
    assert sweep.cases == 4 and sweep.spec["env_range"] == ["X=case:1,2,3,4"]
    # They are ordinary sessions: ``ps`` lists them.
    pending_batch = (
        '{ compute_session_list(limit: 9, offset: 0, status: "PENDING") { items { name type } } }'
    )
    listing = await platform.gql(pending_batch)
    items = listing["data"]["compute_session_list"]["items"]
    assert sorted((i["name"], i["type"]) for i in items) == [
        (f"seed-{i}", "BATCH") for i in range(4)
    ]


async def test_default_name_and_config_environment(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    status, body = await post_sweep(
        platform, name=None, env_range=["X=case:a,b"],
        config={"environ": {"SHARED": "$notfilled", "CASENO": "overridden"}},
    )  # fmt: skip
    assert status == 201, body
    assert body["name"].startswith("sweep-")
    names = [c["session_name"] for c in body["caseList"]]
    assert names == [f"{body['name']}-0", f"{body['name']}-1"]
    # -e values are filled and win; the config's own environment is passed as it is.
    assert [c["environ"] for c in body["caseList"]] == [
        {"SHARED": "$notfilled", "CASENO": "a"}, {"SHARED": "$notfilled", "CASENO": "b"},
    ]  # fmt: skip


async def test_two_ranges_make_every_combination_in_order(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    status, body = await post_sweep(
        platform, code=None, exec="python main.py --lr $LR", environ={"OPT": "$O"},
        env_range=["O=case:sgd,adam"], exec_range=["LR=range:1,4"],
    )  # fmt: skip
    assert status == 201, body
    got = [(c["environ"]["OPT"], c["task"]) for c in body["caseList"]]
    assert got == [(o, f"python main.py --lr {lr}") for o in ("sgd", "adam") for lr in (1, 2, 3)]
    rows = await sessions_of(platform, body["id"])
    assert BatchTask.model_validate(rows[4].task) == BatchTask(
        mode="batch", clean="*", build="*", exec="python main.py --lr 2"
    )


async def test_linspace_and_range_values_print_as_the_client_prints_them(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    status, body = await post_sweep(
        platform, environ={"A": "$A", "B": "$B"},
        env_range=["A=linspace:1,2,3", "B=range:1,6,2"],
    )  # fmt: skip
    assert status == 201, body
    got = [(c["environ"]["A"], c["environ"]["B"]) for c in body["caseList"]]
    assert got == [(a, b) for a in ("1.0", "1.5", "2.0") for b in ("1", "3", "5")]


async def test_batch_mode_with_build_and_clean(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    status, body = await post_sweep(
        platform, code=None, clean="rm -rf out", build="make N=$N", exec="./run",
        build_range=["N=case:1,2"], env_range=[], environ={},
    )  # fmt: skip
    assert status == 201, body
    rows = await sessions_of(platform, body["id"])
    tasks = [BatchTask.model_validate(r.task) for r in rows]
    assert [(t.clean, t.build, t.exec) for t in tasks] == [
        ("rm -rf out", "make N=1", "./run"), ("rm -rf out", "make N=2", "./run")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"env_range": ["X=range:1,2,0"]},
         ["env_range 'X=range:1,2,0'", "step must not be zero"]),
        ({"env_range": ["X=linspace:1,2,0"]},
         ["env_range 'X=linspace:1,2,0'", "at least one point"]),
        ({"code": None, "exec": "echo $Y", "exec_range": ["Y=nope:1"]},
         ["exec_range 'Y=nope:1'", "case:, linspace: or range:"]),
        ({"environ": {"CASENO": "$Y"}}, ["-e CASENO uses $Y", "no range defines it"]),
        ({"env_range": ["X=range:5,1"]}, ["'X=range:5,1' has no values"]),
        ({"env_range": ["X=range:0,100", "Y=range:0,100"]},
         ["10000 combinations", f"at most {MAX_SWEEP_CASES} cases"]),
        ({"code": None}, ["give code (-c CODE) or a command (--exec COMMAND)"]),
        ({"code": "   "}, ["code (-c CODE) is empty"]),
        ({"exec_range": ["Y=case:1,2"]}, ["exec_range cannot be used with code"]),
        ({"exec": "python x.py"}, ["exec cannot be used with code"]),
        ({"name": "-bad"}, ["Invalid sweep name '-bad'", "-bad-0 to -bad-3"]),
        ({"config": {"resources": {"cpu": "lots"}}}, ["cpu"]),
        ({"config": {"resources": {"cpu": True}}}, ["config.resources.cpu"]),
        ({"config": {"environ": {"1BAD": "x"}}}, ["invalid environment variable name '1BAD'"]),
        ({"environ": {"BIG": "$X"}, "env_range": ["X=case:" + "y" * 70_000]},
         ["Case 0", "at most 65536"]),
        ({"code": "x" * 100_000, "env_range": ["X=range:0,400"]},
         ["would store up to", "at most 32 MiB"]),
    ],
)  # fmt: skip
async def test_bad_input_is_refused_with_what_is_wrong_and_nothing_is_created(
    platform: ManagerHarness, lost_agent: FakeAgent, extra: dict[str, Any], words: list[str]
) -> None:
    status, body = await post_sweep(platform, **extra)
    assert status == 400, body
    assert body["type"].endswith("invalid-api-params"), body
    for word in words:
        assert word in body["msg"], body["msg"]
    assert await count_sessions(platform) == 0
    assert await sweep_rows(platform) == 0


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"image": "nosuch:1"}, "image-not-found"),
        ({"config": {"mounts": ["no-such-folder"]}}, "vfolder-not-found"),
        ({"group": "nosuchgroup"}, "group-not-found"),
        ({"config": {"scalingGroup": "nosuch"}}, "generic-not-found"),
        ({"config": {"resources": {"cpu": "64"}}}, "invalid-api-params"),  # no agent has 64
    ],
)
async def test_what_post_session_refuses_a_sweep_refuses(
    platform: ManagerHarness, joined: FakeAgent, extra: dict[str, Any], code: str
) -> None:
    status, body = await post_sweep(platform, **extra)
    assert status in (400, 404), body
    assert body["type"].endswith(code), body
    assert await count_sessions(platform) == 0 and await sweep_rows(platform) == 0


async def test_a_taken_name_refuses_the_whole_sweep(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    status, _ = await create(platform, "seed-2", enqueueOnly=True)
    assert status == 201
    status, body = await post_sweep(platform)
    assert status == 400 and body["type"].endswith("session-already-exists"), body
    assert "seed-2" in body["msg"] and "seed-0" not in body["msg"]
    assert await count_sessions(platform) == 1 and await sweep_rows(platform) == 0


async def test_more_cases_than_concurrent_sessions_wait_instead(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    async with platform.ctx.db() as db, db.begin():
        await db.execute(sa.update(KeyPairResourcePolicy).values(max_concurrent_sessions=2))
    status, body = await post_sweep(platform, env_range=["X=range:0,6"])
    assert status == 201 and body["cases"] == 6, body


async def test_the_waiting_limit_bounds_a_sweep(
    platform: ManagerHarness, lost_agent: FakeAgent
) -> None:
    async with platform.ctx.db() as db, db.begin():
        await db.execute(
            sa.update(KeyPairResourcePolicy).values(
                max_concurrent_sessions=2, max_pending_session_count=3
            )
        )
    status, _ = await create(platform, "single", enqueueOnly=True)
    assert status == 201
    status, body = await post_sweep(platform, env_range=["X=range:0,5"])
    assert status == 400 and body["type"].endswith("quota-exceeded"), body
    assert "Cannot queue 5 cases: you already have 1 sessions" in body["msg"]
    assert "may hold 5 (2 running at once and 3 more waiting), so at most 4 more" in body["msg"]
    assert await count_sessions(platform) == 1 and await sweep_rows(platform) == 0
    status, body = await post_sweep(platform, env_range=["X=range:0,4"])
    assert status == 201 and body["cases"] == 4, body
