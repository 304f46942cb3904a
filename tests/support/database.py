"""A Database as a service runs it: kept connected by its own task, ready before a test uses it,
closed afterwards even when the test fails."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from common.db.database import Database


@asynccontextmanager
async def connected_database(url: str, size: int = 2, *, ready_within: float = 10.0,
                             **options: Any) -> AsyncIterator[Database]:
    database = Database(url, size, **options)
    keeper = asyncio.create_task(database.keep_connected())
    try:
        assert await database.wait_ready(ready_within), database.last_error
        yield database
    finally:
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
        await database.close()
