"""Session mode: login cookies are kept on disk and sent through ``/func/``."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from backendai.client import Session, local_state
from backendai.client.exceptions import BackendAPIError
from tests.client.conftest import USER_EMAIL, USER_PASSWORD
from tests.client.fake_server import FakeBackend


def test_login_saves_cookie_and_later_sessions_send_it(
    session_mode: str, backend: FakeBackend, state_dir: Path
) -> None:
    with Session() as session:
        result = session.Auth.login(USER_EMAIL, USER_PASSWORD)
    assert result.authenticated
    path = state_dir / "cookie.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = local_state.load()
    assert saved is not None
    assert saved.username == USER_EMAIL
    assert saved.cookies == {"AIOHTTP_SESSION": "token-1"}
    login = next(r for r in backend.requests if r.path == "/server/login")
    assert login.json() == {"username": USER_EMAIL, "password": USER_PASSWORD}
    assert "Authorization" not in login.headers

    backend.gql["keypair"] = {"access_key": "AK", "is_admin": False}
    with Session() as session:  # a new process would do the same
        info = session.KeyPair.info(fields=["access_key", "is_admin"])
    assert info is not None and info["access_key"] == "AK"
    gql = backend.requests[-1]
    assert gql.path == "/func/admin/gql"
    assert "AIOHTTP_SESSION=token-1" in gql.headers["Cookie"]
    assert "Authorization" not in gql.headers
    assert any(r.path == "/func/" for r in backend.requests)  # the version probe


def test_failed_login_keeps_nothing(session_mode: str, state_dir: Path) -> None:
    with Session() as session:
        result = session.Auth.login(USER_EMAIL, "wrong")
    assert not result.authenticated
    assert not (state_dir / "cookie.json").exists()


def test_logout_forgets_the_cookie(
    session_mode: str, backend: FakeBackend, state_dir: Path
) -> None:
    with Session() as session:
        session.Auth.login(USER_EMAIL, USER_PASSWORD)
    with Session() as session:
        session.Auth.logout()
    assert not (state_dir / "cookie.json").exists()
    assert backend.tokens == set()
    with Session() as session, pytest.raises(BackendAPIError) as info:
        session.Admin.query("query { keypair { access_key } }")
    assert info.value.status == 401


def test_corrupt_state_is_ignored(state_dir: Path) -> None:
    state_dir.mkdir(parents=True)
    (state_dir / "cookie.json").write_text("{not json")
    assert local_state.load() is None
