"""Where the database is and how big each service's pool is."""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr

from common.paths import REPO_ROOT
from common.settings.base import EnvSettings


class DatabaseSettings(EnvSettings):
    # The embedded server's database and roles: the services log in as EMBEDDED_USER, which owns the
    # application's schema and nothing else; EMBEDDED_SUPERUSER is for operators and maintenance.
    EMBEDDED_DATABASE: ClassVar[str] = "atcs"
    EMBEDDED_USER: ClassVar[str] = "atcs"
    EMBEDDED_SUPERUSER: ClassVar[str] = "postgres"
    EMBEDDED_HOST: ClassVar[str] = "127.0.0.1"

    database_url: SecretStr | None = Field(None, description="PostgreSQL URL; empty = embedded server under var/")
    embedded_pg_port: int = Field(54329, ge=1, le=65535, description="port of the embedded PostgreSQL on 127.0.0.1")
    embedded_pg_dir: Path = Field(REPO_ROOT / "var" / "pgdata", description="data directory of the embedded PostgreSQL")
    embedded_pg_passfile: Path = Field(
        REPO_ROOT / "var" / "pgpass",
        description="passwords of the embedded PostgreSQL's roles (pgpass format, mode 0600, made at its first start)")
    pool_bot: int = Field(4, ge=1, le=100, description="bot's pool size")
    pool_payments: int = Field(3, ge=1, le=100, description="payments' pool size")
    pool_scheduler: int = Field(3, ge=1, le=100, description="scheduler's pool size")
    pool_vpn_gateway: int = Field(3, ge=1, le=100, description="vpn_gateway's pool size")
    pool_acquire_timeout: float = Field(
        5.0, gt=0, le=60,
        # A busy pool is load, not an outage: under a burst a late answer beats "briefly unavailable".
        description="seconds to wait for a free pool connection before refusing as busy")
    db_connect_timeout: float = Field(3.0, gt=0, le=60, description="seconds to wait for a new connection")

    def url(self) -> str:
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return self.embedded_url(self.EMBEDDED_USER, self.EMBEDDED_DATABASE)

    def embedded_url(self, user: str, database: str) -> str:
        """A URL of the embedded server that names the password file, never the password: libpq
        (pg_dump) and asyncpg read the password from it at each connection."""
        passfile = quote(str(self.embedded_pg_passfile.resolve()), safe="/")
        return f"postgresql://{user}@{self.EMBEDDED_HOST}:{self.embedded_pg_port}/{database}?passfile={passfile}"

    @property
    def embedded(self) -> bool:
        return not (self.database_url and self.database_url.get_secret_value())

    def pool_size(self, service: str) -> int:
        return int(getattr(self, f"pool_{service}"))

    def connection(self) -> dict[str, Any]:
        """How the services reach the database, for `atcs config`: never the password itself."""
        if self.embedded:
            return {"host": self.EMBEDDED_HOST, "port": self.embedded_pg_port, "database": self.EMBEDDED_DATABASE,
                    "user": self.EMBEDDED_USER, "password_file": str(self.embedded_pg_passfile.resolve())}
        parts = urlsplit(self.url())
        try:
            port = parts.port or 5432
        except ValueError:  # not a number: the URL is shown, not judged, here
            port = None
        return {"host": parts.hostname, "port": port, "database": parts.path.lstrip("/") or None,
                "user": parts.username, "password": "****" if parts.password else None}
