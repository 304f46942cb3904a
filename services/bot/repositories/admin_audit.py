"""admin_audit: every admin action, written by whichever process carries it out (the bot for
grants, bans and reissues; scheduler, payments and vpn_gateway for the jobs they run)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson


async def record(conn: asyncpg.Connection, admin_id: int, action: str, target: str | None,
                 detail: dict[str, Any] | None = None, *, request_id: str | None = None) -> bool:
    """Writes the row; with `request_id`, only once per (action, request_id): a repeated request
    (a double tap, a retry after a timeout) is one action. False when it was already there."""
    detail = {**(detail or {}), **({"request_id": request_id} if request_id else {})}
    written = await conn.fetchval(
        """INSERT INTO admin_audit (admin_id, action, target, detail)
           SELECT $1, $2, $3, $4::jsonb
           WHERE $5::text IS NULL OR NOT EXISTS (
               SELECT 1 FROM admin_audit WHERE action = $2 AND detail->>'request_id' = $5)
           RETURNING id""",
        admin_id, action, target, orjson.dumps(detail, default=str).decode(), request_id)
    return written is not None


@dataclass(frozen=True)
class AuditRow:
    id: int
    admin_id: int
    action: str
    target: str | None
    detail: dict[str, Any]
    created_at: datetime


async def recent(conn: asyncpg.Connection, limit: int = 20) -> list[AuditRow]:
    rows = await conn.fetch(
        "SELECT id, admin_id, action, target, detail, created_at FROM admin_audit ORDER BY id DESC LIMIT $1", limit)
    return [AuditRow(r["id"], r["admin_id"], r["action"], r["target"],
                     orjson.loads(r["detail"]) if r["detail"] else {}, r["created_at"]) for r in rows]
