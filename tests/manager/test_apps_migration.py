"""Migration 0006 (app routes) up and down, on SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from backendai.manager.db.engine import create_engine
from backendai.manager.db.migrate import current_revision, downgrade, upgrade


async def _inspect(url: str) -> dict[str, Any]:
    engine = create_engine(url)

    def read(conn: sa.Connection) -> dict[str, Any]:
        insp = sa.inspect(conn)
        if "app_routes" not in insp.get_table_names():
            return {}
        return {
            "columns": {c["name"] for c in insp.get_columns("app_routes")},
            "uniques": [set(u["column_names"]) for u in insp.get_unique_constraints("app_routes")],
            "fks": {
                fk["referred_table"]: fk["options"].get("ondelete")
                for fk in insp.get_foreign_keys("app_routes")
            },
        }

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_app_routes_up_and_down(db_url: str) -> None:
    await upgrade(db_url, "0005_vfolders")
    assert await _inspect(db_url) == {}
    await upgrade(db_url, "0006_app_routes")
    assert await current_revision(db_url) == "0006_app_routes"
    table = await _inspect(db_url)
    assert {"id", "session_id", "kernel_id", "app", "proxy_id", "port", "public", "token",
            "arguments", "envs", "created_at"} <= table["columns"]  # fmt: skip
    assert {"session_id", "app"} in table["uniques"]  # reopening finds the one route
    # Routes go with their session and kernel rows.
    assert table["fks"] == {"sessions": "CASCADE", "kernels": "CASCADE"}
    await downgrade(db_url, "0005_vfolders")
    assert await _inspect(db_url) == {}
    assert await current_revision(db_url) == "0005_vfolders"
    await upgrade(db_url)
    assert await _inspect(db_url) != {}
