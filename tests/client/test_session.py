"""Sessions: version negotiation, announcements, GraphQL, pagination, sync and async use."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from backendai.client import AsyncSession, Session
from backendai.client.config import APIConfig
from backendai.client.exceptions import (
    APIVersionWarning,
    BackendAPIError,
    BackendAPIVersionError,
)
from backendai.client.func.pagination import paginated_query
from tests.client.fake_server import FakeBackend, free_port

KEYPAIR = {"access_key": "AK", "secret_key": "SK", "is_active": True, "is_admin": False}


def test_sync_session_negotiates_and_queries(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["keypair"] = KEYPAIR
    with Session() as session:
        assert session.api_version == (6, "20210815")
        assert session.KeyPair.info() == KEYPAIR
        assert session.System.versions() == {"version": "v6.20210815", "manager": "20.09.9"}
    assert session.closed
    probe = backend.requests[0]
    assert (probe.method, probe.path) == ("GET", "/")
    assert "Authorization" not in probe.headers  # the probe is unsigned
    assert backend.gql_requests()[0] == {
        "query": "query {  keypair {    access_key secret_key is_active is_admin  }}",
        "variables": {},
    }


def test_sync_session_works_inside_a_running_loop(api_mode: str, backend: FakeBackend) -> None:
    """Like in Jupyter: the caller's thread already runs an event loop."""
    backend.gql["keypair"] = KEYPAIR

    async def notebook_cell() -> Any:
        with Session() as session:
            return session.KeyPair.info()

    assert asyncio.run(notebook_cell()) == KEYPAIR


def test_sync_session_threads_end(api_mode: str) -> None:
    before = threading.active_count()
    for _ in range(3):
        with Session() as session:
            session.System.versions()
    assert threading.active_count() == before


async def test_async_session(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["keypair"] = KEYPAIR
    async with AsyncSession() as session:
        assert await session.KeyPair.info() == KEYPAIR


def test_server_with_newer_api_warns(api_mode: str, backend: FakeBackend) -> None:
    backend.version = "v7.20230615"
    with pytest.warns(APIVersionWarning), Session() as session:
        assert session.api_version == (6, "20210815")


def test_older_server_uses_legacy_graphql(api_mode: str, backend: FakeBackend) -> None:
    backend.version = "v5.20191215"
    backend.gql["keypair"] = KEYPAIR
    with Session() as session:
        assert session.api_version == (5, "20191215")
        assert session.KeyPair.info() == KEYPAIR
        assert backend.requests[-1].path == "/admin/graphql"
        assert backend.requests[-1].headers["X-BackendAI-Version"] == "v5.20191215"
        with pytest.raises(BackendAPIVersionError):
            list(session.ComputeSession.paginated_list(filter="name == 'x'"))


def test_unreachable_probe_falls_back_to_client_version() -> None:
    config = APIConfig(endpoints=[f"http://127.0.0.1:{free_port()}"])
    with Session(config=config) as session:
        assert session.api_version == (6, "20210815")


def test_announcement_handler(api_mode: str, backend: FakeBackend) -> None:
    backend.announcement = {"enabled": True, "message": "Maintenance at 5pm"}
    seen: list[str] = []
    with Session(on_announcement=seen.append):
        pass
    assert seen == ["Maintenance at 5pm"]
    assert "GET /manager/announcement" in backend.paths()


def test_graphql_errors_raise(api_mode: str, backend: FakeBackend) -> None:
    backend.gql_errors = [{"message": "Cannot query field 'x'."}]
    with Session() as session, pytest.raises(BackendAPIError) as info:
        session.Admin.query("query { x }")
    assert info.value.status == 400
    assert info.value.data == {
        "type": "https://api.backend.ai/probs/graphql-error",
        "title": "GraphQL-generated error",
        "data": [{"message": "Cannot query field 'x'."}],
    }


def test_paginated_query_text() -> None:
    text = paginated_query(
        "compute_session_list",
        {"status": ("RUNNING", "String"), "filter": (None, "String")},
        ["name", "status"],
    )
    assert text == (
        "query($limit:Int!, $offset:Int!, $status: String, $filter: String) {\n"
        "  compute_session_list(\n"
        "      limit:$limit, offset:$offset, status:$status, filter:$filter) {\n"
        "    items { name status }\n"
        "    total_count\n"
        "  }\n"
        "}"
    )


def _sessions(count: int) -> Any:
    def answer(variables: dict[str, Any]) -> dict[str, Any]:
        start, limit = variables["offset"], variables["limit"]
        items = [{"name": f"s{i}"} for i in range(start, min(start + limit, count))]
        return {"items": items, "total_count": count}

    return answer


def test_pagination_walks_every_page(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["compute_session_list"] = _sessions(7)
    with Session() as session:
        names = [i["name"] for i in session.ComputeSession.paginated_list(page_size=3)]
    assert names == [f"s{i}" for i in range(7)]
    offsets = [(r["variables"]["offset"], r["variables"]["limit"]) for r in backend.gql_requests()]
    assert offsets == [(0, 3), (3, 3), (6, 3)]
    assert list(backend.gql_requests()[0]["variables"]) == [
        "status", "access_key", "filter", "order", "limit", "offset",
    ]  # fmt: skip


async def test_async_pagination(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["compute_session_list"] = _sessions(0)
    async with AsyncSession() as session:
        items = [i async for i in session.ComputeSession.paginated_list()]
    assert items == []


def test_early_break_stops_querying(api_mode: str, backend: FakeBackend) -> None:
    backend.gql["compute_session_list"] = _sessions(50)
    with Session() as session:
        for item in session.ComputeSession.paginated_list(page_size=10):
            if item["name"] == "s2":
                break
    assert len(backend.gql_requests()) == 1
