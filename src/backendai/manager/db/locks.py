"""Row locks that serialize writers on both engines.

PostgreSQL: ``SELECT ... FOR UPDATE`` on the row, held until the transaction ends. SQLite has
one writer at a time: a no-op ``UPDATE`` of the row takes the database's write lock at once,
so that everything the transaction reads afterwards stays true until it commits (a plain
``SELECT`` would not: the driver only opens the transaction at the first write).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute


async def lock_row(db: AsyncSession, key_column: InstrumentedAttribute[Any], key: Any) -> bool:
    """Lock the row whose ``key_column`` equals ``key``; False when there is no such row."""
    table = key_column.class_
    if (await db.connection()).dialect.name == "sqlite":
        result = await db.execute(
            sa.update(table)
            .where(key_column == key)
            .values({key_column.key: key_column})
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))
    found = await db.scalar(sa.select(key_column).where(key_column == key).with_for_update())
    return found is not None
