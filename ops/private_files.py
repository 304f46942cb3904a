"""var/ is private: its logs hold user ids, names and tracebacks, and it holds exports, backups,
the database and its password file. Every folder in it is 0700 and every file 0600 whatever the
caller's umask; files made before this rule (logs were 0644) are tightened here at each `atcs up`.

The one exception: when the embedded server runs as its own account (started as root), var/ lets
that account's group pass (0710), never others, so the server reaches its data directory in it.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
PASSABLE_BY_GROUP = 0o710


def make_private(var: Path, server_gid: int | None = None) -> None:
    """Creates var/ if needed and takes group and others' access from everything in it, except
    PostgreSQL data directories (the server keeps its own 0700/0600 and owns them)."""
    var.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    for folder, subfolders, files in os.walk(var):
        here = Path(folder)
        subfolders[:] = [name for name in subfolders
                         if not (here / name / "PG_VERSION").exists() and not (here / name).is_symlink()]
        for name in subfolders:
            _restrict(here / name, PRIVATE_DIR)
        for name in files:
            _restrict(here / name, PRIVATE_FILE)
    if server_gid is not None:
        if var.stat().st_gid != server_gid:
            os.chown(var, -1, server_gid)
        os.chmod(var, PASSABLE_BY_GROUP)
    else:
        os.chmod(var, PRIVATE_DIR)


def _restrict(path: Path, most: int) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:  # a log rotated away meanwhile
        return
    if stat.S_ISLNK(info.st_mode):
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & ~most:
        os.chmod(path, mode & most)
