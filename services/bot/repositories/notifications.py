"""The notifications and admin_alerts outboxes, drained by the bot's sender.

A row is claimed (`common/shop/outbox.py: claim_due`) by pushing its next_attempt_at past a
lease, so it is sent outside any transaction (no connection held across a Telegram call) and a
crash mid-send retries it later.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from common.shop.outbox import claim_due as claim_due_rows

LEASE_SECONDS = 120


@dataclass(frozen=True)
class Pending:
    id: int
    user_id: int
    kind: str
    params: dict[str, Any]
    attempts: int


async def claim_due(conn: asyncpg.Connection, limit: int) -> list[Pending]:
    rows = await claim_due_rows(conn, "notifications", limit, LEASE_SECONDS,
                                returning="o.id, o.user_id, o.kind, o.params, o.attempts")
    return [Pending(r["id"], r["user_id"], r["kind"], orjson.loads(r["params"]) if r["params"] else {}, r["attempts"])
            for r in rows]


async def mark_sent(conn: asyncpg.Connection, notification_id: int) -> None:
    await conn.execute(
        "UPDATE notifications SET state = 'sent', sent_at = now(), last_error = NULL WHERE id = $1",
        notification_id)


async def mark_failed(conn: asyncpg.Connection, notification_id: int, error: str) -> None:
    await conn.execute(
        "UPDATE notifications SET state = 'failed', last_error = $2 WHERE id = $1", notification_id, error[:500])


async def retry_later(conn: asyncpg.Connection, notification_id: int, seconds: float, error: str,
                      *, count_attempt: bool = True) -> None:
    await conn.execute(
        """UPDATE notifications SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3,
                  attempts = attempts - CASE WHEN $4 THEN 0 ELSE 1 END
           WHERE id = $1""",
        notification_id, float(seconds), error[:500], count_attempt)


async def pending_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM notifications WHERE state = 'pending'")


@dataclass(frozen=True)
class Alert:
    id: int
    kind: str
    subject: str
    detail: dict[str, Any]
    created_at: datetime | None = None


async def unsent_alerts(conn: asyncpg.Connection, limit: int) -> list[Alert]:
    rows = await conn.fetch(
        "SELECT id, kind, subject, detail, created_at FROM admin_alerts WHERE sent_at IS NULL ORDER BY id LIMIT $1",
        limit)
    return [Alert(r["id"], r["kind"], r["subject"], orjson.loads(r["detail"]) if r["detail"] else {}, r["created_at"])
            for r in rows]


async def mark_alert_sent(conn: asyncpg.Connection, alert_id: int) -> None:
    await conn.execute("UPDATE admin_alerts SET sent_at = now() WHERE id = $1", alert_id)
