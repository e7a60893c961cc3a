"""Planning a sweep: its request turned into its cases (name, environment and task of each),
or a 400 naming what is wrong, before anything is read or written.

Ranges are parsed and their combinations counted (``common.sweep_ranges``, shared with the
client so that both make the same cases in the same order) before a single case is made, and
what the cases would store is bounded first, so that neither a product of ranges nor a large
code repeated a thousand times can fill the manager's memory or the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from backendai.common.batch_tasks import MAX_SWEEP_CASES, BatchTask, SweepRequest
from backendai.common.errors import InvalidRequest
from backendai.common.session_request import (
    CreateSessionRequest,
    SessionConfig,
    validate_name,
)
from backendai.common.sweep_ranges import (
    Case,
    RangeError,
    RangeSpec,
    TemplateError,
    count_combinations,
    expand_cases,
    parse_range,
)

# What a sweep's cases may store in all (code, commands, environment).
MAX_SWEEP_BYTES = 32 * 1024 * 1024
_RANGE_OPTIONS = ("env_range", "build_range", "exec_range")
_QUERY_ONLY = ("clean", "build", "exec", "build_range", "exec_range")


@dataclass(frozen=True)
class PlannedCase:
    index: int
    name: str
    environ: dict[str, str]
    task: BatchTask


def session_fields(req: SweepRequest) -> dict[str, Any]:
    """The ``POST /session`` body every case shares (checked as that route checks it); the
    request's ``-e`` values join the config's environment, unfilled."""
    config = dict(req.config)
    shared = config.get("environ", {})
    if isinstance(shared, dict):  # anything else is refused by the check, as POST /session does
        config["environ"] = {**shared, **req.environ}
    return {
        "name": None, "image": req.image, "tag": req.tag, "config": config, "type": "batch",
        "starts_at": req.starts_at, "bootstrap_script": req.bootstrap_script,
        "owner_access_key": req.owner_access_key, "domain": req.domain, "group": req.group,
    }  # fmt: skip


def _ranges(option: str, values: Sequence[str]) -> list[tuple[str, RangeSpec]]:
    parsed = []
    for value in values:
        try:
            parsed.append((value, parse_range(value)))
        except RangeError as e:
            raise InvalidRequest(f"{option} {value!r}: {e}", data={option: value}) from e
    return parsed


def _check_mode(req: SweepRequest) -> None:
    if req.code is not None:
        if not req.code.strip():
            raise InvalidRequest("The code (-c CODE) is empty; give the code the cases run.")
        # "*" (the image's default) is what a client fills in by itself: not asked for.
        given = [f for f in _QUERY_ONLY if getattr(req, f) not in (None, "*", [])]
        if given:
            raise InvalidRequest(
                f"{', '.join(given)} cannot be used with code (-c CODE): code runs as it is, "
                "without build or exec steps. Give either -c CODE, or --exec (with --build, "
                "--exec-range, ...) and no code.",
                data={f: "not allowed with code" for f in given},
            )
    elif not (req.exec or "").strip():
        raise InvalidRequest(
            "A sweep needs something to run: give code (-c CODE) or a command (--exec COMMAND)."
        )


def _filled_size(template: str | None, longest: int) -> int:
    """At most how long ``template`` is once filled: each ``$`` takes at most one value."""
    return len(template or "") + (template or "").count("$") * longest


def _check_size(req: SweepRequest, shared_env: Mapping[str, str], ranges: list[RangeSpec],
                combinations: int) -> None:  # fmt: skip
    longest = max((len(str(v)) for _, values in ranges for v in values), default=0)
    env = sum(len(k) + _filled_size(v, longest) for k, v in shared_env.items())
    per_case = (
        len(req.code or "") + len(req.clean or "") + env
        + _filled_size(req.build, longest) + 2 * _filled_size(req.exec, longest)
    )  # fmt: skip  # exec is kept twice: the task and the session's startup command
    total = per_case * combinations
    if total > MAX_SWEEP_BYTES:
        raise InvalidRequest(
            f"This sweep's {combinations} cases would store up to {total // 2**20} MiB of code, "
            f"commands and environment; at most {MAX_SWEEP_BYTES // 2**20} MiB are allowed. Use "
            "fewer cases, or keep large code in a file of a mounted folder.",
            data={"bytes": total, "limit": MAX_SWEEP_BYTES},
        )


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


def _task(req: SweepRequest, case: Case) -> BatchTask:
    if req.code is not None:
        return BatchTask(mode="query", code=req.code)
    return BatchTask(mode="batch", clean=req.clean if req.clean is not None else "*",
                     build=case.build, exec=case.exec)  # fmt: skip


def _names(base: str, count: int) -> list[str]:
    names = [f"{base}-{i}" for i in range(count)]
    try:
        for name in (names[0], names[-1]):  # only the index differs between them
            validate_name(name)
    except InvalidRequest as e:
        raise InvalidRequest(
            f"Invalid sweep name {base!r}: its cases are named {names[0]} to {names[-1]}, and "
            "a session name has 4 to 64 characters of letters, digits, '_', '-' and '.', "
            "starting with a letter, a digit or '_'.",
            data={"name": base},
        ) from e
    return names


def plan(req: SweepRequest, base: CreateSessionRequest, name: str) -> list[PlannedCase]:
    """The cases of ``req`` in ``expand_cases`` order, or a 400 naming what is wrong; nothing
    is read or written. ``base``: the checked session fields they share."""
    _check_mode(req)
    groups = [_ranges(option, getattr(req, option)) for option in _RANGE_OPTIONS]
    specs = [[spec for _, spec in group] for group in groups]
    combinations = count_combinations(*specs)
    if combinations > MAX_SWEEP_CASES:
        raise InvalidRequest(
            f"The ranges make {combinations} combinations; a sweep may have at most "
            f"{MAX_SWEEP_CASES} cases. Use fewer or shorter ranges.",
            data={"combinations": combinations, "limit": MAX_SWEEP_CASES},
        )
    if combinations == 0:
        option, value = next(
            (option, value)
            for option, group in zip(_RANGE_OPTIONS, groups, strict=True)
            for value, (_, values) in group
            if not values
        )
        raise InvalidRequest(f"{option} {value!r} has no values, so the sweep has no case; "
                             "give a range with at least one value.",
                             data={option: value})  # fmt: skip
    _check_size(req, base.config.environ, [s for group in specs for s in group], combinations)
    try:
        cases = expand_cases(
            req.environ, req.build, req.exec,
            env_ranges=specs[0], build_ranges=specs[1], exec_ranges=specs[2],
        )  # fmt: skip
    except TemplateError as e:
        raise InvalidRequest(str(e)) from e
    planned = []
    for (i, case), case_name in zip(enumerate(cases), _names(name, len(cases)), strict=True):
        environ = {**base.config.environ, **dict(case.envs)}
        try:
            SessionConfig(environ=environ)  # a filled value may pass what one may hold
            task = _task(req, case)
        except ValidationError as e:
            raise InvalidRequest(f"Case {i} ({case.describe()[:200]}): {_first_error(e)}") from e
        planned.append(PlannedCase(i, case_name, environ, task))
    return planned
