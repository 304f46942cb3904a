from __future__ import annotations

import asyncio

import pytest

from tests.support.postgres import PostgresServer, fresh_database, prepare_template


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL cluster for the whole run; each test gets its own database on it."""
    server = PostgresServer()
    server.start()
    asyncio.run(prepare_template(server))
    yield server
    server.destroy()


@pytest.fixture
async def database_url(pg_server: PostgresServer) -> str:
    return await fresh_database(pg_server)


@pytest.fixture
def matplotlib_config(tmp_path_factory, monkeypatch):
    """MPLCONFIGDIR for charts drawn in the test process: one font cache per worker, never the
    developer's HOME, set through monkeypatch so that no later subprocess inherits it."""
    path = tmp_path_factory.getbasetemp() / "matplotlib"
    path.mkdir(exist_ok=True)
    monkeypatch.setenv("MPLCONFIGDIR", str(path))
    return path
