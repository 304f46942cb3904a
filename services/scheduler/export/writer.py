"""Writes an export's CSV to a file as PostgreSQL streams it: bytes are gathered into blocks of
BLOCK and each block is written by a worker thread, so the event loop never waits on the disk
and memory holds at most one block plus what asyncpg has read (it stops reading while we write).

The sink also paces the stream (ATCS_EXPORT_RATE_MB): while it waits, asyncpg stops reading and
the PostgreSQL backend producing the CSV waits on its socket, so a big export spreads its CPU
over a few more seconds instead of taking a core from the bot's queries.
"""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import BinaryIO

from common.db.database import Database
from services.scheduler.private_files import create_private
from services.scheduler.repositories import exports as repo

BLOCK = 1 << 20


class FileSink:
    def __init__(self, path: Path, rate: float = 0.0) -> None:
        self.path = path
        self.rate = rate               # bytes per second; 0 = unpaced
        self.bytes = 0
        self._buffer = bytearray()
        self._file: BinaryIO | None = None
        self._started = 0.0

    async def open(self) -> None:
        self._file = await asyncio.to_thread(create_private, self.path)
        self._started = time.monotonic()

    async def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        self.bytes += len(chunk)
        if len(self._buffer) >= BLOCK:
            await self._write_block()

    async def close(self) -> None:
        await self._write_block()
        if self._file is not None:
            handle, self._file = self._file, None
            await asyncio.to_thread(_close, handle)

    async def abort(self) -> None:
        self._buffer.clear()
        if self._file is not None:
            handle, self._file = self._file, None
            await asyncio.to_thread(handle.close)
        await asyncio.to_thread(self.path.unlink, True)

    async def _write_block(self) -> None:
        if self._buffer and self._file is not None:
            block = bytes(self._buffer)
            self._buffer.clear()
            await asyncio.to_thread(self._file.write, block)
            if self.rate:
                ahead = self.bytes / self.rate - (time.monotonic() - self._started)
                if ahead > 0:
                    await asyncio.sleep(ahead)


def _close(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


async def write_export(db: Database, kind: str, path: Path, timeout: float,
                       rate_mb: float = 0.0) -> tuple[int, int]:
    """Streams the export of `kind` into `path` at up to `rate_mb` MB/s; returns (rows, bytes).
    No file is left on failure."""
    sink = FileSink(path, rate_mb * 1024 * 1024)
    await sink.open()
    try:
        async with db.acquire() as conn:
            rows = await repo.copy_csv(conn, kind, sink.write, timeout)
        await sink.close()
    except BaseException:
        await asyncio.shield(sink.abort())
        raise
    return rows, sink.bytes
