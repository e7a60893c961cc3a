"""A refused WebSocket handshake carries its problem in a header, which the SDK reads: the
start log of an app that failed reaches the user of `backend.ai app`, not only the status."""

from __future__ import annotations

import json
from urllib.parse import unquote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from backendai.client.request import _handshake_problem
from backendai.common.errors import AppStartFailed
from backendai.common.problems import PROBLEM_HEADER, problem_middleware

LOG = "line\n" * 2000 + "Error: port 8080 is taken\n"


async def refuse(request: web.Request) -> web.Response:
    raise AppStartFailed(f"The app jupyter exited (code 1). Its log ends with:\n{LOG}")


@pytest.fixture
async def client() -> TestClient[web.Request, web.Application]:
    app = web.Application(middlewares=[problem_middleware])
    app.router.add_get("/ws", refuse)
    return TestClient(TestServer(app))


async def test_a_refused_upgrade_carries_the_problem_in_a_header(
    client: TestClient[web.Request, web.Application],
) -> None:
    async with client:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws")
        assert refused.value.status == 502 and refused.value.headers is not None
        problem = json.loads(unquote(refused.value.headers[PROBLEM_HEADER]))
        assert problem["type"].endswith("/app-start-failed")
        # Cut to fit a header, keeping how it began and how the log ended.
        assert problem["msg"].startswith("The app jupyter exited (code 1).")
        assert problem["msg"].endswith("Error: port 8080 is taken\n")
        assert len(problem["msg"]) <= 2000 + 3
        # A plain request gets the whole problem as its body, and no header.
        resp = await client.get("/ws")
        assert PROBLEM_HEADER not in resp.headers
        assert (await resp.json())["msg"].endswith(LOG)


def test_the_sdk_reads_the_header() -> None:
    sent = json.dumps({"type": "https://api.backend.ai/probs/app-start-failed",
                       "title": "The app could not be started in the session.",
                       "msg": "the log"})  # fmt: skip
    from urllib.parse import quote

    def error(headers: dict[str, str]) -> aiohttp.WSServerHandshakeError:
        info = aiohttp.RequestInfo(URL("http://x/ws"), "GET", CIMultiDictProxy(CIMultiDict()))
        return aiohttp.WSServerHandshakeError(
            info,
            (),
            status=502,
            message="Bad Gateway",
            headers=CIMultiDictProxy(CIMultiDict(headers)),
        )

    url = URL("http://x/stream/session/s/tcpproxy")
    got = _handshake_problem(url, error({PROBLEM_HEADER: quote(sent, safe="")}))
    assert got["msg"] == "the log" and got["type"].endswith("app-start-failed")
    plain = _handshake_problem(url, error({}))
    assert (
        plain["title"]
        == "The server refused the WebSocket connection to /stream/session/s/tcpproxy."
    )
