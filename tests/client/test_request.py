"""Request building: URL mapping, signing (checked by a verifying server), error mapping."""

from __future__ import annotations

from datetime import datetime

import pytest

from backendai.client.config import APIConfig
from backendai.client.exceptions import BackendAPIError, BackendClientError
from backendai.client.request import Request, build_url, endpoint_host
from backendai.client.session import AsyncSession
from backendai.common import signing
from tests.client.conftest import ACCESS_KEY, SECRET_KEY
from tests.client.fake_server import FakeBackend, free_port

# API_CONTRACT §1.4: (method, endpoint, path, query, Date, content type, signature)
VECTORS = [
    (
        "GET", "http://127.0.0.1:8081", "/manager/announcement", None,
        "2021-09-01T12:34:56.789012+00:00", "text/plain",
        "468e1cf44207cead104fa89331a185fcf4c305fcd6a00f86d7c767680b9357a1",
    ),
    (
        "POST", "https://api.example.com", "/session", None,
        "2021-09-01T23:59:59.000001+00:00", "application/json",
        "29773be190f81fd1ca7233af58a9b2ca20dda44ce5ae4030b64582e03edd42f0",
    ),
    (
        "GET", "http://127.0.0.1:8081", "/events/session", {"sessionName": "mysess", "scope": "*"},
        "2021-09-02T00:00:00.500000+00:00", "application/octet-stream",
        "2d7c457fcf6ea04f27e2b2454fc65d69c92266a358660993c8a95a58a4593659",
    ),
]  # fmt: skip


def _config(endpoint: str, **kw: object) -> APIConfig:
    return APIConfig(endpoints=[endpoint], access_key=ACCESS_KEY, secret_key=SECRET_KEY, **kw)


@pytest.mark.parametrize(("method", "endpoint", "path", "query", "date", "ctype", "sig"), VECTORS)
def test_signature_matches_contract_vectors(
    method: str,
    endpoint: str,
    path: str,
    query: dict[str, str] | None,
    date: str,
    ctype: str,
    sig: str,
) -> None:
    session = AsyncSession(config=_config(endpoint))
    rqst = Request(session, method, path, params=query, content_type=ctype)
    url = rqst.url_for(endpoint)
    headers = rqst.headers_for(endpoint, url, now=datetime.fromisoformat(date))
    assert headers["Date"] == date
    assert headers["X-BackendAI-Version"] == "v6.20210815"
    assert headers["Authorization"] == (
        f"BackendAI signMethod=HMAC-SHA256, credential={ACCESS_KEY}:{sig}"
    )


@pytest.mark.parametrize(
    ("endpoint", "mode", "path", "expected"),
    [
        ("http://h:8081", "api", "/folders", "http://h:8081/folders"),
        ("http://h:8081/", "api", "/", "http://h:8081/"),
        ("https://h/prefix", "api", "admin/gql", "https://h/prefix/admin/gql"),
        ("http://w:8090", "session", "/folders", "http://w:8090/func/folders"),
        ("http://w:8090", "session", "/", "http://w:8090/func/"),
        ("http://w:8090", "session", "/server/login", "http://w:8090/server/login"),
        ("http://w/proxy/", "session", "/session/s1", "http://w/proxy/func/session/s1"),
    ],
)
def test_url_mapping(endpoint: str, mode: str, path: str, expected: str) -> None:
    assert str(build_url(endpoint, mode, path)) == expected


def test_query_string_is_signed_raw() -> None:
    url = build_url("http://h", "api", "/events/session", {"sessionName": "a b", "scope": "*"})
    assert url.raw_path_qs == "/events/session?sessionName=a+b&scope=*"


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [
        ("http://127.0.0.1:8081", "127.0.0.1:8081"),
        ("https://api.example.com", "api.example.com"),
        ("http://h:80", "h"),  # the Host header drops an explicit default port
        ("https://h:443/x", "h"),
        ("http://[::1]:8080", "[::1]:8080"),
    ],
)
def test_endpoint_host_is_the_host_header(endpoint: str, host: str) -> None:
    assert endpoint_host(endpoint) == host


async def test_signed_requests_verify_on_the_server(api_mode: str, backend: FakeBackend) -> None:
    async with AsyncSession() as session:
        get = await Request(session, "GET", "/echo/a", params={"q": "x y"}).fetch()
        post = await Request(session, "POST", "/echo/b", json={"k": 1}).fetch()
        # GET and DELETE with JSON bodies are part of the API.
        get_json = await Request(session, "GET", "/echo/c", json={"all": False}).fetch()
        delete = await Request(session, "DELETE", "/echo/d", json={"files": ["x"]}).fetch()
    assert get.json() == {"method": "GET", "path": "/echo/a?q=x+y", "content_type": "text/plain",
                          "json": None}  # fmt: skip
    assert post.json()["content_type"] == "application/json"
    assert get_json.json()["json"] == {"all": False}
    assert delete.json()["json"] == {"files": ["x"]}
    rec = backend.requests[-1]
    assert rec.headers["X-BackendAI-Domain"] == "default"
    assert rec.headers["User-Agent"].startswith("Backend.AI Client for Python")


async def test_bad_secret_gets_auth_error(server: str) -> None:
    config = APIConfig(endpoints=[server], access_key=ACCESS_KEY, secret_key="wrong")
    async with AsyncSession(config=config) as session:
        with pytest.raises(BackendAPIError) as info:
            await Request(session, "GET", "/echo/x").fetch()
    assert info.value.status == 401
    assert info.value.data["type"].endswith("/auth-failed")
    assert info.value.data["msg"] == "Signature mismatch"


async def test_anonymous_requests_are_unsigned(server: str, backend: FakeBackend) -> None:
    async with AsyncSession(config=APIConfig(endpoints=[server])) as session:
        with pytest.raises(BackendAPIError):
            await Request(session, "GET", "/echo/x").fetch()
    assert "Authorization" not in backend.requests[-1].headers


async def test_problem_json_is_parsed(api_mode: str) -> None:
    async with AsyncSession() as session:
        with pytest.raises(BackendAPIError) as info:
            await Request(session, "GET", "/fail/404").fetch()
    err = info.value
    assert (err.status, err.reason) == (404, "Not Found")
    assert err.data == {
        "type": "https://api.backend.ai/probs/generic-bad-request",
        "title": "Bad request.",
        "msg": "you asked for it",
    }
    assert "you asked for it" in str(err)


async def test_non_json_error_body_is_wrapped(api_mode: str) -> None:
    async with AsyncSession() as session:
        with pytest.raises(BackendAPIError) as info:
            await Request(session, "GET", "/fail/502", params={"raw": "1"}).fetch()
    assert info.value.data["title"] == "Generic Error (could not parse error string)"
    assert info.value.data["content"] == "upstream exploded"


async def test_connection_failure_is_a_client_error() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    async with AsyncSession(config=APIConfig(endpoints=[endpoint])) as session:
        with pytest.raises(BackendClientError) as info:
            await Request(session, "GET", "/").fetch()
    assert f"Cannot reach the API endpoint {endpoint}" in str(info.value)


async def test_fails_over_to_the_next_endpoint(server: str, backend: FakeBackend) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config = APIConfig(endpoints=[dead, server], access_key=ACCESS_KEY, secret_key=SECRET_KEY)
    async with AsyncSession(config=config) as session:
        resp = await Request(session, "GET", "/echo/x").fetch()
        assert session.current_endpoint == server
    assert resp.status == 200


def test_common_signing_roundtrip() -> None:
    # The exact recipe the server uses to verify what signed_headers produced.
    now = datetime.fromisoformat("2021-09-01T12:34:56.789012+00:00")
    headers = signing.signed_headers(
        ACCESS_KEY, SECRET_KEY, method="GET", rel_url="/", host="h:1",
        content_type="text/plain", now=now,
    )  # fmt: skip
    _, access_key, sig = signing.parse_authorization(headers["Authorization"])
    assert access_key == ACCESS_KEY
    assert sig == signing.sign(
        SECRET_KEY, method="GET", rel_url="/", date=now, date_header=headers["Date"],
        host="h:1", content_type="text/plain",
    )  # fmt: skip
