"""Issue 16.1, 16.5, 16.6 and 16.7 as another account on the same machine would try them, against
the system `atcs up` starts (embedded PostgreSQL, every service, supervisord), in a copy of the
repository started with the loosest umask there is:

- without the password file, nobody logs in to the embedded database, as any role; the
  services' role is no superuser;
- nothing under var/ is open to others (logs, backups, the database, supervisord's files), after
  `atcs up` and after `atcs down`;
- `atcs down` leaves no run dir in /tmp, and `atcs up` clears a stale one.

The other account is `nobody`, reached by dropping privileges (CI runs as root); a run as an
ordinary user tries the same as that user.
"""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import orjson
import pytest

from common.paths import REPO_ROOT
from common.settings.ipc import SERVICES
from common.db.embedded import bin_dir
from tests.support.ports import free_port
from tests.support.wait import wait_for_sync

pytestmark = pytest.mark.e2e
IGNORED = shutil.ignore_patterns(".venv", "var", ".git", "__pycache__", ".pytest_cache", "*.egg-info", ".hypothesis")
OTHER_ACCOUNT = "nobody"


@dataclass
class Shop:
    checkout: Path
    env: dict[str, str]
    run_dir: Path
    up: subprocess.CompletedProcess

    @property
    def var(self) -> Path:
        return self.checkout / "var"

    def atcs(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ops.cli", *args], cwd=self.checkout, env=self.env,
                              capture_output=True, text=True, timeout=150, preexec_fn=_loosest_umask)

    def config(self) -> dict:
        return orjson.loads(self.atcs("config").stdout)


def _loosest_umask() -> None:
    os.umask(0)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATCS_", "PG")) and k != "APP_ENV"}
    env.update({f"ATCS_HEALTH_PORT_{s.upper()}": str(free_port()) for s in SERVICES})
    env.update({name: str(free_port()) for name in (
        "ATCS_EMBEDDED_PG_PORT", "ATCS_PAYMENTS_PORT", "ATCS_SANDBOX_PORT", "ATCS_SANDBOX_CRYPTOPAY_PORT",
        "ATCS_SANDBOX_OUTLINE_PORT", "ATCS_SANDBOX_REMNAWAVE_PORT", "ATCS_SANDBOX_MARZBAN_PORT",
        "ATCS_SANDBOX_XUI_PORT")})
    env["ATCS_BACKUP_HOUR"] = "0"  # the day's backup is made at start: its file is checked too
    return env


def _default_run_dir(checkout: Path, env: dict[str, str]) -> Path:
    shown = subprocess.run([sys.executable, "-c", "from common.settings.ipc import IpcSettings; "
                            "print(IpcSettings().resolved_run_dir())"],
                           cwd=checkout, env=env, capture_output=True, text=True, timeout=30, check=True)
    return Path(shown.stdout.strip())


def _stale_socket(path: Path) -> None:
    """A socket file nobody listens on: what a crashed service leaves behind."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.close()


@pytest.fixture(scope="module")
def shop() -> Iterator[Shop]:
    folder = Path(tempfile.mkdtemp(prefix="atcs-sec-"))
    os.chmod(folder, 0o755)
    checkout = folder / "atcs"
    shutil.copytree(REPO_ROOT, checkout, ignore=IGNORED)
    (checkout / ".venv").symlink_to(REPO_ROOT / ".venv")
    env = _env()
    run_dir = _default_run_dir(checkout, env)
    _stale_socket(run_dir / "crashed.ipc")
    shop = Shop(checkout, env, run_dir, subprocess.CompletedProcess([], 0))
    shop.up = shop.atcs("up", "--timeout", "60")
    try:
        assert shop.up.returncode == 0, shop.up.stdout + shop.up.stderr
        yield shop
    finally:
        shop.atcs("down")
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)


def _as_other_account(command: list[str]) -> subprocess.CompletedProcess:
    drop = {"user": OTHER_ACCOUNT, "group": "nogroup", "extra_groups": []} if os.geteuid() == 0 else {}
    return subprocess.run(command, capture_output=True, text=True, timeout=30, cwd="/",
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C"}, **drop)


def _open_to_others(var: Path) -> list[str]:
    found = subprocess.run(["find", str(var), "-perm", "/o+rwx"], capture_output=True, text=True, timeout=30)
    return found.stdout.split()


def _open_to_group(var: Path) -> list[str]:
    """Everything below var/ is for its owner alone (var/ itself may let the database's group pass)."""
    found = subprocess.run(["find", str(var), "-mindepth", "1", "-perm", "/g+rwx"], capture_output=True, text=True,
                           timeout=30)
    return found.stdout.split()


def test_without_the_password_no_local_account_logs_in(shop: Shop) -> None:
    port = shop.env["ATCS_EMBEDDED_PG_PORT"]
    psql = str(bin_dir() / "psql")
    for role in ("postgres", "atcs"):
        for database in ("postgres", "atcs"):
            tried = _as_other_account([psql, "-h", "127.0.0.1", "-p", port, "-U", role, "-d", database, "-w",
                                       "-tAc", "SELECT current_user"])
            assert tried.returncode != 0, f"{OTHER_ACCOUNT} logged in as {role} to {database}: {tried.stdout}"
            assert "password" in tried.stderr, tried.stderr
    passfile = Path(shop.config()["database"]["connection"]["password_file"])
    assert passfile.is_relative_to(shop.var) and passfile.exists()
    read = _as_other_account(["cat", str(passfile)])
    assert read.returncode != 0 and "Permission denied" in read.stderr, read.stdout


async def test_the_services_role_is_no_superuser(shop: Shop) -> None:
    config = shop.config()["database"]
    conn = await asyncpg.connect(config["effective_url"])   # as the services connect
    try:
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
        assert await conn.fetchval("SELECT current_user") == config["connection"]["user"] == "atcs"
        assert await conn.fetchval("SELECT rolcreaterole OR rolcreatedb FROM pg_roles "
                                   "WHERE rolname = current_user") is False
    finally:
        await conn.close()


def test_var_is_private_after_up(shop: Shop) -> None:
    backups = shop.var / "backups"
    wait_for_sync(lambda: list(backups.glob("atcs-*.dump")), timeout=30, message="the day's backup in var/backups")
    assert _open_to_others(shop.var) == []
    assert _open_to_group(shop.var) == []
    assert stat.S_IMODE(shop.var.stat().st_mode) in (0o700, 0o710)
    for checked in ("log/bot.log", "log/supervisord.log", "log/postgres.log", "run/supervisor.sock", "pgpass",
                    "pgdata/PG_VERSION"):
        assert (shop.var / checked).exists(), checked


def test_the_run_dir_is_private_and_was_cleared_of_stale_sockets(shop: Shop) -> None:
    assert stat.S_IMODE(shop.run_dir.stat().st_mode) == 0o700
    assert (shop.run_dir / "bot.ipc").is_socket()
    assert not (shop.run_dir / "crashed.ipc").exists(), "a stale socket survived atcs up"


def test_down_leaves_nothing_open_and_no_run_dir(shop: Shop) -> None:
    down = shop.atcs("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert not shop.run_dir.exists(), sorted(p.name for p in shop.run_dir.iterdir())
    assert _open_to_others(shop.var) == []
    assert _open_to_group(shop.var) == []
