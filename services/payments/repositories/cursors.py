"""Positions of the incremental reconciliation scans."""
from __future__ import annotations

import asyncpg


async def position(conn: asyncpg.Connection, name: str) -> int:
    value = await conn.fetchval("SELECT position FROM payments_cursors WHERE name = $1", name)
    return int(value or 0)


async def advance(conn: asyncpg.Connection, name: str, to: int) -> None:
    # greatest(): two overlapping passes (a manual check beside the periodic one) never move it back.
    await conn.execute(
        """INSERT INTO payments_cursors (name, position) VALUES ($1, $2)
           ON CONFLICT (name) DO UPDATE SET position = greatest(payments_cursors.position, excluded.position),
                                            updated_at = now()""",
        name, to)
