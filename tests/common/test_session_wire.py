"""``POST /session``'s body is defined once (common/session_wire.py): the server's model reads
exactly the keys the SDK writes, in the same order."""

from __future__ import annotations

import pytest

from backendai.common.session_request import CreateSessionRequest, SessionConfig
from backendai.common.session_wire import CONFIG_KEYS, CREATE_KEYS, create_body


def test_the_model_dumps_the_table_s_keys_in_its_order() -> None:
    model = CreateSessionRequest.model_validate({"image": "python", "count": 2})
    assert list(model.model_dump(by_alias=True)) == [key for _, key in CREATE_KEYS]
    assert list(SessionConfig().model_dump(by_alias=True)) == [key for _, key in CONFIG_KEYS]


def test_a_body_the_sdk_writes_reads_back_whole() -> None:
    body = create_body(
        {"name": "mysess", "image": "python:3.11", "cluster_size": 1,
         "cluster_mode": "single-node", "enqueue_only": True,
         "max_wait_seconds": 30, "reuse_if_exists": False, "type": "batch",
         "startup_command": "echo hi", "count": 3},
        {"mounts": ["data"], "environ": {"A": "1"}, "resources": {"cpu": "2"},
         "resource_opts": {}, "scaling_group": "gpu", "mount_map": {}, "preopen_ports": [8080]},
    )  # fmt: skip
    assert "priority" not in body and body["count"] == 3 and body["tag"] is None
    model = CreateSessionRequest.model_validate(body)
    assert (model.name, model.image, model.enqueue_only, model.max_wait_seconds) == (
        "mysess", "python:3.11", True, 30,
    )  # fmt: skip
    assert (model.config.scaling_group, model.config.preopen_ports, model.count) == (
        "gpu", [8080], 3,
    )  # fmt: skip
    dumped = model.model_dump(by_alias=True, exclude_unset=True)
    assert dumped["config"]["scalingGroup"] == "gpu" and dumped["enqueueOnly"] is True


def test_a_key_outside_the_table_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="scalingGroup"):
        create_body({"image": "x"}, {"scalingGroup": "gpu"})
