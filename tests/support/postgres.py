"""A real PostgreSQL for tests: the embedded server binaries, one throw-away cluster per need.

Started as production starts it (common.db.embedded: passwords, scram-sha-256 only). Tests create
databases as the superuser; the databases they get from fresh_database() are used, as the
services use theirs, by the application's role, which owns their schema and is no superuser."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import asyncpg

from common.paths import REPO_ROOT
from common.settings.database import DatabaseSettings
from common.db.embedded import bin_dir
from common.db.embedded_access import APP_USER, SUPERUSER, hand_over_schema
from common.db.migrate import migrate
from tests.support.ports import free_port
from tests.support.wait import wait_for_sync


class PostgresServer:
    def __init__(self, port: int | None = None, data_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self._own_dir = data_dir is None
        base = Path(tempfile.mkdtemp(prefix="atcs-pg-"))
        os.chmod(base, 0o755)
        self.data_dir = data_dir or base / "data"
        self.log_path = base / "postgres.log"
        self.passfile = base / "pgpass"
        self.process: subprocess.Popen | None = None

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        """The superuser's URL of `database`."""
        return self._settings().embedded_url(SUPERUSER, database)

    def app_url(self, database: str) -> str:
        """The application role's URL of `database`."""
        return self._settings().embedded_url(APP_USER, database)

    def _settings(self) -> DatabaseSettings:
        return DatabaseSettings(embedded_pg_port=self.port, embedded_pg_passfile=self.passfile)

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "common.db.embedded", "--dir", str(self.data_dir), "--port", str(self.port),
             "--passfile", str(self.passfile), "--fast"],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_sync(self._accepts, timeout=timeout, interval=0.1, message="postgres accepting connections")

    def _accepts(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"postgres exited: {self.log_path.read_text()[-2000:]}")
        # pg_isready is synchronous, so this works inside and outside an event loop.
        probe = subprocess.run([str(bin_dir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port),
                                "-U", "postgres", "-t", "1"], capture_output=True)
        return probe.returncode == 0

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # fast shutdown
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def destroy(self) -> None:
        """Throw-away: an immediate shutdown (no checkpoint of the hundreds of databases a run
        made), and the files removed by a detached `rm`, so a worker's last teardown does not
        wait minutes on a busy machine."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)   # postgres: immediate shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._own_dir:
            subprocess.Popen(["rm", "-rf", str(self.data_dir.parent)], start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


TEMPLATE = "atcs_template"


async def prepare_template(server: PostgresServer) -> None:
    conn = await asyncpg.connect(server.admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await conn.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await conn.close()
    conn = await asyncpg.connect(server.url(TEMPLATE))
    try:
        await hand_over_schema(conn)
    finally:
        await conn.close()
    await migrate(server.app_url(TEMPLATE))


async def fresh_database(server: PostgresServer) -> str:
    """A new database with every migration applied (cloned from the template: fast), reached as
    the application's role."""
    name = "t_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(server.admin_url)
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    finally:
        await conn.close()
    return server.app_url(name)
