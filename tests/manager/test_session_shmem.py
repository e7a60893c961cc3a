"""``--resource-opts shmem=SIZE`` at ``POST /session``: a valid size reaches the agent in bytes;
one that is not a size, is zero, or is not smaller than the session's memory is a 400 that names
shmem, and nothing is created."""

from __future__ import annotations

from tests.fixtures.platform import ManagerHarness
from tests.manager.conftest import count_sessions, create, session_row
from tests.manager.fake_agent import FakeAgent

PROBS = "https://api.backend.ai/probs/"
MiB = 2**20


async def test_shmem_reaches_the_agent_in_bytes(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    status, body = await create(platform, "shm-ok", config={"resource_opts": {"shmem": "256m"}})
    assert status == 201, body
    [call] = joined.create_calls
    assert call.resource_opts == {"shmem": str(256 * MiB)}
    assert (await session_row(platform, body["sessionId"])).resource_opts == {
        "shmem": str(256 * MiB)
    }


async def test_shmem_given_with_the_resources_is_an_option(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    status, body = await create(
        platform, "shm-res", config={"resources": {"mem": "1g", "shmem": "128m"}}
    )
    assert status == 201, body
    [call] = joined.create_calls
    assert call.resource_opts == {"shmem": str(128 * MiB)}
    assert "shmem" not in call.slots


BAD_SHMEM = [
    ("text", {"resource_opts": {"shmem": "abc"}},
     "Invalid amount for resource option shmem: 'abc'. Write a size like"),
    ("negative", {"resource_opts": {"shmem": "-1"}},
     "Invalid amount for resource option shmem: '-1'"),
    ("zero", {"resource_opts": {"shmem": "0"}},
     "Invalid resource option shmem=0: write a size more than zero"),
    ("empty", {"resource_opts": {"shmem": ""}}, "Invalid amount for resource option shmem: ''"),
    # The default memory of a session is 512 MiB.
    ("over-default-mem", {"resource_opts": {"shmem": "1g"}},
     "Invalid resource option shmem=1g: shared memory must be smaller than the session's "
     "memory (mem 512 MiB)"),
    ("equal-mem", {"resources": {"mem": "1g"}, "resource_opts": {"shmem": "1g"}},
     "shared memory must be smaller than the session's memory (mem 1 GiB)"),
    ("huge", {"resource_opts": {"shmem": "100t"}}, "shared memory must be smaller"),
    ("unknown", {"resource_opts": {"foo": "1"}}, "Unknown resource option foo; known: shmem."),
]  # fmt: skip


async def test_bad_shmem_is_a_clear_400_and_creates_nothing(
    platform: ManagerHarness, joined: FakeAgent
) -> None:
    """Every case on one manager (one each took half a minute of the suite)."""
    for name, config, text in BAD_SHMEM:
        status, body = await create(platform, f"shm-{name}", enqueueOnly=True, config=config)
        assert status == 400, (name, body)
        assert body["type"] == PROBS + "invalid-api-params", body
        assert text in body["msg"], body["msg"]
        assert await count_sessions(platform) == 0, name
        assert joined.create_calls == [], name
