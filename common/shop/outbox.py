"""Writing outbox rows. Call inside the transaction that makes the change; a repeated key is a no-op."""
from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from common.contract.outbox import Activation, Notice


async def enqueue_activation(conn: asyncpg.Connection, user_id: int, action: Activation, key: str,
                             payload: dict[str, Any] | None = None) -> int | None:
    """Returns the new row's id, or None when a row with this key already exists."""
    return await conn.fetchval(
        """INSERT INTO activations (user_id, action, idempotency_key, payload)
           VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
        user_id, str(action), key, orjson.dumps(payload or {}, default=str).decode())


async def enqueue_notification(conn: asyncpg.Connection, user_id: int, kind: Notice,
                               params: dict[str, Any] | None = None, key: str | None = None) -> int | None:
    return await conn.fetchval(
        """INSERT INTO notifications (user_id, kind, params, idempotency_key)
           VALUES ($1, $2, $3::jsonb, $4)
           ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
        user_id, str(kind), orjson.dumps(params or {}, default=str).decode(), key)


async def enqueue_admin_alert(conn: asyncpg.Connection, kind: str, subject: str,
                              detail: dict[str, Any] | None = None) -> int:
    return await conn.fetchval(
        "INSERT INTO admin_alerts (kind, subject, detail) VALUES ($1, $2, $3::jsonb) RETURNING id",
        kind, subject, orjson.dumps(detail or {}, default=str).decode())
