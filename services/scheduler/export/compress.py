"""Gzips a finished export that is too big for the Bot API's upload limit (CSV shrinks ~5x).
Runs in a worker thread, streaming in blocks: neither the loop nor memory feels the file size."""
from __future__ import annotations

import asyncio
import gzip
import shutil
from pathlib import Path

from services.scheduler.private_files import create_private

BLOCK = 1 << 20


def _gzip(source: Path, target: Path) -> int:
    with open(source, "rb") as plain, create_private(target) as raw:
        with gzip.GzipFile(filename=source.name, mode="wb", fileobj=raw, compresslevel=6) as packed:
            shutil.copyfileobj(plain, packed, BLOCK)
    source.unlink()
    return target.stat().st_size


async def gzip_file(path: Path) -> tuple[Path, int]:
    target = path.with_name(path.name + ".gz")
    size = await asyncio.to_thread(_gzip, path, target)
    return target, size
