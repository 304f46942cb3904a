"""users rows as the bot sees them: upserted on every update, language, referral, trial claim."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

# No 0/o/1/l: a code people may read aloud or retype.
_CODE_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
assert 256 % len(_CODE_ALPHABET) == 0


@dataclass(frozen=True)
class UserRow:
    id: int
    language: str
    referral_code: str
    referred_by: int | None
    is_banned: bool
    trial_used_at: datetime | None
    balance: Decimal
    created: bool          # this update created the row: the user's very first contact


def new_referral_code() -> str:
    # One read of the system's randomness, not one per letter (secrets.choice): drawn for every
    # update's upsert. 32 letters divide 256, so each letter stays equally likely.
    return "".join(_CODE_ALPHABET[byte % len(_CODE_ALPHABET)] for byte in secrets.token_bytes(8))


_UPSERT = """
INSERT INTO users (id, username, first_name, language, referral_code)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET
    username = EXCLUDED.username,
    first_name = EXCLUDED.first_name,
    blocked_bot = false,          -- they are talking to us, so they have not blocked the bot
    last_seen_at = now()
RETURNING id, language, referral_code, referred_by, is_banned, trial_used_at, balance, (xmax = 0) AS created
"""


# The upsert and the user's FSM row in one statement: the bot's most frequent round trip serves both.
_UPSERT_WITH_FSM = f"""
WITH u AS ({_UPSERT})
SELECT u.*, f.state AS fsm_state, coalesce(f.data <> '{{}}'::jsonb, false) AS fsm_has_data
FROM u LEFT JOIN bot_fsm f ON f.key = $6
"""


@dataclass(frozen=True)
class FsmRow:
    state: str | None
    has_data: bool


async def upsert(conn: asyncpg.Connection, user_id: int, username: str | None, first_name: str,
                 language: str) -> UserRow:
    """`language` is used only for a new row: afterwards the user's own choice is kept."""
    return (await _upsert(conn, _UPSERT, user_id, username, first_name, language))[0]


async def upsert_with_fsm(conn: asyncpg.Connection, user_id: int, username: str | None, first_name: str,
                          language: str, fsm_key: str) -> tuple[UserRow, FsmRow]:
    """upsert, and what the FSM row under `fsm_key` holds, in one round trip."""
    return await _upsert(conn, _UPSERT_WITH_FSM, user_id, username, first_name, language, fsm_key)


async def _upsert(conn: asyncpg.Connection, sql: str, user_id: int, username: str | None, first_name: str,
                  language: str, *extra: str) -> tuple[UserRow, FsmRow]:
    for attempt in range(3):
        try:
            row = dict(await conn.fetchrow(sql, user_id, username, first_name or "", language, new_referral_code(),
                                           *extra))
            fsm = FsmRow(row.pop("fsm_state", None), row.pop("fsm_has_data", False))
            return UserRow(**row), fsm
        except asyncpg.UniqueViolationError:
            # The random referral code collided with another user's: draw again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def set_language(conn: asyncpg.Connection, user_id: int, language: str) -> None:
    await conn.execute("UPDATE users SET language = $2 WHERE id = $1", user_id, language)


async def attach_referrer(conn: asyncpg.Connection, user_id: int, code: str) -> bool:
    """Records who invited a brand-new user; a user cannot invite themselves or be re-referred."""
    updated = await conn.fetchval(
        """UPDATE users SET referred_by = ref.id
           FROM (SELECT id FROM users WHERE referral_code = $2) ref
           WHERE users.id = $1 AND users.referred_by IS NULL AND ref.id <> $1
           RETURNING users.id""",
        user_id, code)
    return updated is not None


async def claim_trial(conn: asyncpg.Connection, user_id: int) -> datetime | None:
    """Marks the trial used and returns when, or None when it had been used already."""
    return await conn.fetchval(
        "UPDATE users SET trial_used_at = now() WHERE id = $1 AND trial_used_at IS NULL RETURNING trial_used_at",
        user_id)


async def trial_used_at(conn: asyncpg.Connection, user_id: int) -> datetime | None:
    return await conn.fetchval("SELECT trial_used_at FROM users WHERE id = $1", user_id)


async def set_blocked_bot(conn: asyncpg.Connection, user_id: int, blocked: bool) -> None:
    await conn.execute("UPDATE users SET blocked_bot = $2 WHERE id = $1", user_id, blocked)


@dataclass(frozen=True)
class ReferralStats:
    code: str
    invited: int
    paid: int
    bonus_days: int


async def referral_stats(conn: asyncpg.Connection, user_id: int) -> ReferralStats:
    row = await conn.fetchrow(
        """SELECT u.referral_code AS code,
                  (SELECT count(*) FROM users i WHERE i.referred_by = u.id) AS invited,
                  (SELECT count(*) FROM referral_bonuses b WHERE b.referrer_id = u.id) AS paid,
                  (SELECT coalesce(sum(b.days), 0) FROM referral_bonuses b WHERE b.referrer_id = u.id) AS bonus_days
           FROM users u WHERE u.id = $1""",
        user_id)
    return ReferralStats(code=row["code"], invited=row["invited"], paid=row["paid"], bonus_days=int(row["bonus_days"]))


async def language_of(conn: asyncpg.Connection, user_ids: list[int]) -> dict[int, str]:
    rows = await conn.fetch("SELECT id, language FROM users WHERE id = ANY($1::bigint[])", user_ids)
    return {r["id"]: r["language"] for r in rows}
