"""aiogram FSM storage in PostgreSQL: a restart in the middle of a flow continues where the user was.

Every call is one short statement on the bot's pool; when the database is away it raises
DatabaseUnavailable like any other query, and the exception boundary shows the degraded notice.

The user middleware reads the row's state (and whether it holds data) in the same statement as the
user upsert, and hands it here for the update (`snapshot`). While that update is the only one in
flight for its key, reads come from it and clearing what is already clear costs nothing: a /start
is one statement instead of four. A second update for the same key (a double tap) waits for the
first in the event isolation; both then go to the database, as before.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey

from common.db.database import Database


@dataclass(eq=False)
class Snapshot:
    """The FSM row of one key as this update found it (kept current by this update's own writes)."""
    key: str
    state: str | None
    has_data: bool


_current: ContextVar[Snapshot | None] = ContextVar("fsm_snapshot", default=None)


class PostgresStorage(BaseStorage):
    def __init__(self, db: Database, key_builder: KeyBuilder | None = None) -> None:
        self.db = db
        self.key_builder = key_builder or DefaultKeyBuilder(with_bot_id=True, with_destiny=True)
        self._active: dict[str, list[Snapshot]] = {}

    def row_key(self, key: StorageKey) -> str:
        # One row holds both state and data, so the part name is fixed.
        return self.key_builder.build(key, "fsm")

    @contextlib.contextmanager
    def snapshot(self, key: str, state: str | None, has_data: bool) -> Iterator[None]:
        """Within: this update's FSM calls for `key` may trust what it read with the user row."""
        snap = Snapshot(key, state, has_data)
        self._active.setdefault(key, []).append(snap)
        token = _current.set(snap)
        try:
            yield
        finally:
            _current.reset(token)
            active = self._active[key]
            active.remove(snap)
            if not active:
                del self._active[key]

    def _trusted(self, key: str) -> Snapshot | None:
        snap = _current.get()
        # Only while this update is the one in flight for the key: another update (or a task this
        # one left behind, still carrying its context) may have changed the row since.
        if snap is None or snap.key != key or self._active.get(key) != [snap]:
            return None
        return snap

    # Clearing (state None, data {}) only touches a row that holds something: most updates end in
    # state.clear() for users who never started a flow, and those must not cost a write or a row.

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        row = self.row_key(key)
        snap = self._trusted(row)
        if value is None and snap is not None and snap.state is None:
            return
        async with self.db.acquire() as conn:
            if value is None:
                await conn.execute("UPDATE bot_fsm SET state = NULL, updated_at = now() "
                                   "WHERE key = $1 AND state IS NOT NULL", row)
            else:
                await conn.execute(
                    """INSERT INTO bot_fsm (key, state) VALUES ($1, $2)
                       ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, updated_at = now()""",
                    row, value)
        if snap is not None:
            snap.state = value

    async def get_state(self, key: StorageKey) -> str | None:
        row = self.row_key(key)
        snap = self._trusted(row)
        if snap is not None:
            return snap.state
        async with self.db.acquire() as conn:
            return await conn.fetchval("SELECT state FROM bot_fsm WHERE key = $1", row)

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise TypeError(f"FSM data must be a mapping, not {type(data).__name__}")
        row = self.row_key(key)
        snap = self._trusted(row)
        if not data and snap is not None and not snap.has_data:
            return
        async with self.db.acquire() as conn:
            if not data:
                await conn.execute("UPDATE bot_fsm SET data = '{}', updated_at = now() "
                                   "WHERE key = $1 AND data <> '{}'::jsonb", row)
            else:
                await conn.execute(
                    """INSERT INTO bot_fsm (key, data) VALUES ($1, $2::jsonb)
                       ON CONFLICT (key) DO UPDATE SET data = EXCLUDED.data, updated_at = now()""",
                    row, orjson.dumps(dict(data)).decode())
        if snap is not None:
            snap.has_data = bool(data)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        row = self.row_key(key)
        snap = self._trusted(row)
        if snap is not None and not snap.has_data:
            return {}
        async with self.db.acquire() as conn:
            raw = await conn.fetchval("SELECT data FROM bot_fsm WHERE key = $1", row)
        return orjson.loads(raw) if raw else {}

    async def close(self) -> None:
        # The pool belongs to the service, not to the storage.
        return None
