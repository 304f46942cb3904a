"""Who may log in to the embedded PostgreSQL, and what the services' role owns.

Two roles, both with a generated password kept in one pgpass-format file (mode 0600, under var/):
the superuser `postgres` (for operators and for creating the application's database) and `atcs`,
which is not a superuser and owns the application's schema and nothing else; the services and
migrations log in as `atcs`. The server accepts only scram-sha-256 logins on loopback TCP.

The roles and pg_hba.conf are set in single-user mode before the server starts (no password
needed, nothing listening): on a fresh data directory, on one initialised the old way with
`--auth=trust`, and whenever the password file changed. pg_hba.conf carries a digest of the
password file in its first line, which is how a start knows that nothing needs doing.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from common.settings.database import DatabaseSettings

SUPERUSER = DatabaseSettings.EMBEDDED_SUPERUSER
APP_USER = DatabaseSettings.EMBEDDED_USER
APP_DATABASE = DatabaseSettings.EMBEDDED_DATABASE
HOST = DatabaseSettings.EMBEDDED_HOST
# Generated passwords are token_urlsafe: safe inside a pgpass line and an SQL literal as they are.
_PASSWORD = re.compile(r"[A-Za-z0-9_-]{20,}")


@dataclass(frozen=True)
class Passwords:
    superuser: str
    app: str
    digest: str  # of the password file: tells whether the server's roles were set from it


def ensure_passfile(path: Path) -> Passwords:
    """Reads the password file, making it (0600) with fresh passwords when it is missing."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        text = (f"# Passwords of the embedded PostgreSQL (pgpass format). Delete this file and restart\n"
                f"# the postgres program to set new ones.\n"
                f"{HOST}:*:*:{SUPERUSER}:{secrets.token_urlsafe(32)}\n"
                f"{HOST}:*:*:{APP_USER}:{secrets.token_urlsafe(32)}\n")
        partial = path.with_name(path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(partial, path)
    if os.stat(path).st_mode & 0o077:  # libpq and asyncpg ignore a password file others can read
        os.chmod(path, 0o600)
    raw = path.read_bytes()
    found: dict[str, str] = {}
    for line in raw.decode().splitlines():
        fields = line.split(":")
        if len(fields) == 5 and not line.startswith("#"):
            found[fields[3]] = fields[4]
    for user in (SUPERUSER, APP_USER):
        if not _PASSWORD.fullmatch(found.get(user, "")):
            raise SystemExit(f"{path}: no valid password for role {user}; delete the file to make a new one")
    return Passwords(found[SUPERUSER], found[APP_USER], hashlib.sha256(raw).hexdigest()[:16])


def hba_conf(passwords: Passwords) -> str:
    return (f"# atcs {passwords.digest}: written at each start of the embedded server; edits are replaced\n"
            "host    all    all    127.0.0.1/32    scram-sha-256\n"
            "host    all    all    ::1/128         scram-sha-256\n")


def roles_sql(passwords: Passwords) -> str:
    """Single-user-mode statements (each ends with ';' and a blank line) that set both roles."""
    return (
        "SET password_encryption = 'scram-sha-256';\n\n"
        f"ALTER ROLE {SUPERUSER} PASSWORD '{passwords.superuser}';\n\n"
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_USER}') "
        f"THEN CREATE ROLE {APP_USER}; END IF; END $$;\n\n"
        f"ALTER ROLE {APP_USER} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
        f"PASSWORD '{passwords.app}';\n\n"
    )


# Run in the application's database as the superuser: the schema and everything in it go to the
# application's role (a database made before roles existed had all of it owned by the superuser).
# Indexes, triggers and owned sequences follow their table; array types follow their element type.
HAND_OVER_SCHEMA = f"""
ALTER SCHEMA public OWNER TO {APP_USER};
DO $$
DECLARE
    statement text;
BEGIN
    FOR statement IN
        SELECT format('ALTER %s %s OWNER TO {APP_USER}',
                      CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                     WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                      c.oid::regclass)
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND c.relowner <> '{APP_USER}'::regrole
          AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                               AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
        UNION ALL
        SELECT format('ALTER %s %s OWNER TO {APP_USER}', CASE p.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END,
                      p.oid::regprocedure)
        FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> '{APP_USER}'::regrole
        UNION ALL
        SELECT format('ALTER TYPE %s OWNER TO {APP_USER}', t.oid::regtype)
        FROM pg_type t
        WHERE t.typnamespace = 'public'::regnamespace AND t.typowner <> '{APP_USER}'::regrole
          AND (t.typtype IN ('e', 'd', 'r')
               OR t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
    LOOP
        EXECUTE statement;
    END LOOP;
END $$;
"""


async def provision(settings: DatabaseSettings) -> bool:
    """Makes the application's database if it is missing and hands its schema to the application's
    role; returns whether the database was made. Connects as the superuser."""
    made = False
    conn = await asyncpg.connect(settings.embedded_url(SUPERUSER, "postgres"), timeout=settings.db_connect_timeout)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", APP_DATABASE):
            await conn.execute(f"CREATE DATABASE {APP_DATABASE}")
            made = True
    finally:
        await conn.close()
    conn = await asyncpg.connect(settings.embedded_url(SUPERUSER, APP_DATABASE), timeout=settings.db_connect_timeout)
    try:
        await hand_over_schema(conn)
    finally:
        await conn.close()
    return made


async def hand_over_schema(conn: asyncpg.Connection) -> None:
    """`conn`: the superuser, in the database whose schema becomes the application role's."""
    async with conn.transaction():
        await conn.execute(HAND_OVER_SCHEMA)
