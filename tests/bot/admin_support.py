"""Driving the admin console through the Telegram stand-in, and seeding the rows it reads."""
from __future__ import annotations

from typing import Any

import asyncpg

from sandbox.telegram.server import TelegramStandIn
from tests.bot.chat import WAIT, Person
from tests.bot.conftest import ADMIN_ID


class AdminPerson(Person):
    def __init__(self, standin: TelegramStandIn) -> None:
        super().__init__(standin, ADMIN_ID, first_name="Ada")

    async def console(self) -> dict[str, Any]:
        return await self.say("/admin", expect="Admin console")

    async def press(self, label: str, message_id: int, expect: str, timeout: float = WAIT) -> dict[str, Any]:
        """Taps a button on `message_id` and waits for that message to show `expect`."""
        await self.tap(label, message_id=message_id)
        return await self.wait_screen(message_id, expect, timeout)

    async def toast(self, label: str | None = None, *, message_id: int, data: str | None = None) -> str | None:
        """Taps and returns the toast the tap was answered with."""
        tap = await self.tap(label, data=data, message_id=message_id)
        return (await self.answer_of(tap))["answers"][0]["text"]


async def seed_user(conn: asyncpg.Connection, user_id: int, *, username: str | None = None,
                    created_days_ago: float = 0, trial_days_ago: float | None = None, language: str = "en") -> None:
    await conn.execute(
        """INSERT INTO users (id, username, first_name, language, referral_code, created_at, trial_used_at)
           VALUES ($1, $2, 'Seeded', $3, $4, now() - make_interval(secs => $5),
                   CASE WHEN $6::float8 IS NULL THEN NULL ELSE now() - make_interval(secs => $6::float8) END)""",
        user_id, username, language, f"seed{user_id}", created_days_ago * 86400,
        None if trial_days_ago is None else trial_days_ago * 86400)


async def seed_subscription(conn: asyncpg.Connection, user_id: int, *, days_left: float = 10, trial: bool = False,
                            key: bool = True) -> None:
    await conn.execute(
        """INSERT INTO subscriptions (user_id, expires_at, is_trial, status)
           VALUES ($1, now() + make_interval(secs => $2), $3, 'active')""", user_id, days_left * 86400, trial)
    if key:
        await conn.execute(
            """INSERT INTO vpn_accounts (user_id, server, backend, external_id, panel_id, access_key)
               VALUES ($1, 's1', 'outline', $2, $3, $4)""",
            user_id, f"atcs-{user_id}", f"p{user_id}", f"ss://c2VlZA{user_id}@10.0.0.1:443")


async def seed_purchase(conn: asyncpg.Connection, user_id: int, *, amount: str, currency: str, method: str,
                        paid_days_ago: float = 0, status: str = "paid", plan_id: int | None = 1,
                        kind: str = "subscription") -> int:
    return await conn.fetchval(
        """INSERT INTO purchases (user_id, plan_id, kind, method, amount, currency, status, provider_charge_id,
                                  created_at, paid_at)
           VALUES ($1, $2, $3, $4, $5::numeric, $6, $7, $8, now() - make_interval(secs => $9),
                   now() - make_interval(secs => $9))
           RETURNING id""",
        user_id, plan_id, kind, method, amount, currency, status,
        f"charge-{user_id}-{amount}-{paid_days_ago}" if method == "stars" else None, paid_days_ago * 86400)


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[tuple]]:
    """Every row the admin console could change."""
    tables = {"users": "id", "subscriptions": "user_id", "activations": "id", "notifications": "id",
              "purchases": "id", "admin_audit": "id", "bot_fsm": "key", "vpn_accounts": "user_id"}
    result = {}
    for table, order in tables.items():
        rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY {order}")
        result[table] = [tuple((k, v) for k, v in r.items() if k != "last_seen_at") for r in rows]
    return result
