"""Applies migrations/*.sql in order, once each, under an advisory lock.

Each file runs in its own transaction with its record in `schema_migrations`; a failure rolls
that file back and names it. Running again applies nothing.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import asyncpg

from common.paths import REPO_ROOT

log = logging.getLogger(__name__)
MIGRATIONS_DIR = REPO_ROOT / "migrations"
# Any fixed 64-bit number; every runner on this database takes the same one.
MIGRATION_LOCK = 0x41544353_4D494752


class MigrationError(Exception):
    pass


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(p for p in directory.glob("*.sql") if p.is_file())


async def migrate(url: str, directory: Path = MIGRATIONS_DIR, timeout: float = 10.0) -> list[str]:
    conn = await asyncpg.connect(url, timeout=timeout)
    try:
        return await migrate_connection(conn, directory)
    finally:
        await conn.close()


async def migrate_connection(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name text PRIMARY KEY,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
        for path in migration_files(directory):
            sql = path.read_text(encoding="utf-8")
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if path.name in done:
                if done[path.name] != checksum:
                    log.warning("applied migration was edited since", extra={"migration": path.name})
                continue
            try:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", path.name, checksum)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"migration {path.name} failed and was rolled back: {exc}") from None
            log.info("migration applied", extra={"migration": path.name})
            applied_now.append(path.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied_now
