"""The embedded PostgreSQL lets in only who has the password file, and the services' role owns the
application's schema without being a superuser; a data directory initialised the old way (trust)
is migrated at the next start with its data."""
from __future__ import annotations

import os
import signal
import stat
import subprocess

import asyncpg
import pytest

from common.settings.database import DatabaseSettings
from common.db.embedded import bin_dir, demote, server_account
from common.db.embedded_access import APP_DATABASE, APP_USER, provision
from common.db.migrate import migrate
from tests.support.postgres import PostgresServer
from tests.support.wait import wait_for_sync


def _settings(server: PostgresServer) -> DatabaseSettings:
    return DatabaseSettings(embedded_pg_port=server.port, embedded_pg_passfile=server.passfile)


def _start_the_old_way(server: PostgresServer) -> subprocess.Popen:
    """What common.db.embedded did before passwords: initdb --auth=trust, then the server."""
    account = server_account()
    server.data_dir.mkdir(mode=0o700)
    if account is not None:
        os.chown(server.data_dir, account.pw_uid, account.pw_gid)
    subprocess.run([str(bin_dir() / "initdb"), "-D", str(server.data_dir), "-U", "postgres", "--auth=trust",
                    "--encoding=UTF8", "--no-sync", "--locale=C"],
                   check=True, preexec_fn=demote(account), stdout=subprocess.DEVNULL)
    process = subprocess.Popen([str(bin_dir() / "postgres"), "-D", str(server.data_dir), "-p", str(server.port),
                                "-h", "127.0.0.1", "-k", "", "-c", "fsync=off"],
                               preexec_fn=demote(account), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_sync(server._accepts, timeout=30, interval=0.1, message="the old-style server accepting connections")
    return process


async def _no_password(server: PostgresServer, user: str, database: str) -> Exception | None:
    try:
        conn = await asyncpg.connect(f"postgresql://{user}@127.0.0.1:{server.port}/{database}", timeout=5)
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as exc:
        return exc
    await conn.close()
    return None


async def test_a_trust_cluster_is_migrated_with_its_data_and_handed_to_the_app_role() -> None:
    server = PostgresServer()
    try:
        old = _start_the_old_way(server)
        trusted = f"postgresql://postgres@127.0.0.1:{server.port}"
        conn = await asyncpg.connect(f"{trusted}/postgres")
        await conn.execute(f"CREATE DATABASE {APP_DATABASE}")
        await conn.close()
        await migrate(f"{trusted}/{APP_DATABASE}")
        conn = await asyncpg.connect(f"{trusted}/{APP_DATABASE}")
        await conn.execute("INSERT INTO users (id, referral_code) VALUES (4242, 'before')")
        await conn.close()
        old.send_signal(signal.SIGINT)
        assert old.wait(30) == 0

        server.start()                              # the new start path: roles, passwords, pg_hba
        await provision(_settings(server))          # what `atcs migrate` does first

        for user, database in (("postgres", "postgres"), (APP_USER, APP_DATABASE)):
            refused = await _no_password(server, user, database)
            assert refused is not None, f"{user} logged in without a password"
        assert stat.S_IMODE(server.passfile.stat().st_mode) == 0o600
        app = await asyncpg.connect(_settings(server).url())
        try:
            assert await app.fetchval("SELECT referral_code FROM users WHERE id = 4242") == "before"
            assert await app.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
            assert await app.fetchval("SELECT current_user") == APP_USER
            foreign = await app.fetch(
                "SELECT relname, relkind, pg_get_userbyid(relowner) AS owner FROM pg_class "
                "WHERE relnamespace = 'public'::regnamespace AND relowner <> current_user::regrole")
            assert foreign == [], foreign
            assert await app.fetchval("SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
                                      "AND proowner <> current_user::regrole") == 0
            assert await app.fetchval("SELECT pg_get_userbyid(nspowner) FROM pg_namespace "
                                      "WHERE nspname = 'public'") == APP_USER
            await app.execute("INSERT INTO users (id, referral_code) VALUES (4343, 'after')")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute("CREATE DATABASE not_mine")
        finally:
            await app.close()
        # The application's role runs the migrations as owner of everything they touch.
        assert await migrate(_settings(server).url()) == []
    finally:
        server.destroy()


async def test_a_new_password_file_is_applied_at_the_next_start() -> None:
    """The operator's way to change the passwords: delete the file and restart the server."""
    server = PostgresServer()
    try:
        server.start()
        before = server.passfile.read_text()
        server.stop()
        server.passfile.unlink()
        server.start()
        assert server.passfile.read_text() != before
        conn = await asyncpg.connect(server.admin_url)
        await conn.close()
        hba = (server.data_dir / "pg_hba.conf").read_text()
        assert [line.split()[-1] for line in hba.splitlines() if line and not line.startswith("#")] == \
            ["scram-sha-256", "scram-sha-256"]
    finally:
        server.destroy()
