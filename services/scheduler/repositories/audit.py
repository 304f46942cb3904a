"""admin_audit rows for what admins start and stop through the scheduler."""
from __future__ import annotations

from typing import Any

import asyncpg
import orjson


async def record(conn: asyncpg.Connection, admin_id: int, action: str, target: str,
                 detail: dict[str, Any] | None = None) -> None:
    await conn.execute(
        "INSERT INTO admin_audit (admin_id, action, target, detail) VALUES ($1, $2, $3, $4::jsonb)",
        admin_id, action, target, orjson.dumps(detail or {}, default=str).decode())
