"""Host-side secrets: the data dir, the database and the session homes are private."""

from __future__ import annotations

import pwd
import stat
from pathlib import Path

import pytest

from backendai.agent.main import warn_if_host_account
from backendai.agent.settings import WORK_UID
from tests.fixtures.live import LiveServer
from tests.security.conftest import Tenant

pytestmark = [pytest.mark.slow, pytest.mark.docker]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_dir_and_database_are_ours_alone(live_server: LiveServer) -> None:
    data = live_server.data_dir
    assert _mode(data) == 0o700
    for name in ("backendai.db", "backendai.db-wal", "agent-token", "demo-credentials.json"):
        if (data / name).exists():
            assert _mode(data / name) == 0o600, name
    assert _mode(data / "agent") == 0o700


async def test_a_session_home_is_private_to_an_unused_uid(
    live_server: LiveServer, tenants: dict[str, Tenant]
) -> None:
    with pytest.raises(KeyError):
        pwd.getpwuid(WORK_UID)  # no host account shares the container uid
    async with tenants["alice"].sdk() as api:
        session = await api.ComputeSession.get_or_create("python", name="secrets-home")
        try:
            result = await session.execute(
                "import os; open('note', 'w').write('mine'); print(os.getuid())", mode="query"
            )
            assert ["stdout", f"{WORK_UID}\n"] in [list(c) for c in result["console"]]
            homes = [
                p
                for p in (live_server.data_dir / "agent").glob("*/*/home")
                if (p / "note").exists()
            ]
            assert len(homes) == 1
            st = homes[0].stat()
            assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o700, WORK_UID)
        finally:
            await session.destroy()


def test_a_uid_shared_with_a_host_account_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    assert warn_if_host_account(0) == "root"
    assert "is the host account 'root'" in caplog.text
    assert warn_if_host_account(WORK_UID) is None
