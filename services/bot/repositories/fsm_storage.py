"""aiogram FSM storage in PostgreSQL: a restart in the middle of a flow continues where the user was.

Every call is one short statement on the bot's pool; when the database is away it raises
DatabaseUnavailable like any other query, and the exception boundary shows the degraded notice.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey

from common.db.database import Database


class PostgresStorage(BaseStorage):
    def __init__(self, db: Database, key_builder: KeyBuilder | None = None) -> None:
        self.db = db
        self.key_builder = key_builder or DefaultKeyBuilder(with_bot_id=True, with_destiny=True)

    def _key(self, key: StorageKey) -> str:
        # One row holds both state and data, so the part name is fixed.
        return self.key_builder.build(key, "fsm")

    # Clearing (state None, data {}) only touches a row that holds something: most updates end in
    # state.clear() for users who never started a flow, and those must not cost a write or a row.

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self.db.acquire() as conn:
            if value is None:
                await conn.execute("UPDATE bot_fsm SET state = NULL, updated_at = now() "
                                   "WHERE key = $1 AND state IS NOT NULL", self._key(key))
                return
            await conn.execute(
                """INSERT INTO bot_fsm (key, state) VALUES ($1, $2)
                   ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, updated_at = now()""",
                self._key(key), value)

    async def get_state(self, key: StorageKey) -> str | None:
        async with self.db.acquire() as conn:
            return await conn.fetchval("SELECT state FROM bot_fsm WHERE key = $1", self._key(key))

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise TypeError(f"FSM data must be a mapping, not {type(data).__name__}")
        async with self.db.acquire() as conn:
            if not data:
                await conn.execute("UPDATE bot_fsm SET data = '{}', updated_at = now() "
                                   "WHERE key = $1 AND data <> '{}'::jsonb", self._key(key))
                return
            await conn.execute(
                """INSERT INTO bot_fsm (key, data) VALUES ($1, $2::jsonb)
                   ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, updated_at = now()""",
                self._key(key), orjson.dumps(dict(data)).decode())

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self.db.acquire() as conn:
            raw = await conn.fetchval("SELECT data FROM bot_fsm WHERE key = $1", self._key(key))
        return orjson.loads(raw) if raw else {}

    async def close(self) -> None:
        # The pool belongs to the service, not to the storage.
        return None
