"""Exports and backups hold personal data: their folders are 0700 and their files 0600, whatever
the umask the scheduler was started with and whatever mode an older version left behind."""
from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


def private_folder(folder: Path) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = folder.stat().st_mode & 0o777
    if mode & 0o077:
        os.chmod(folder, mode & 0o700)


def create_private(path: Path) -> BinaryIO:
    """Creates (or empties) `path` for writing, in a private folder, readable by its owner only."""
    private_folder(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    return os.fdopen(fd, "wb")
