"""supervisord event listener: a program entering FATAL is logged and queued for the admins.

The protocol is supervisord's: write READY, read a header line and a payload, answer RESULT.
The alert is a row in admin_alerts (the bot sends it to every admin); when the database is
unreachable the log line is what remains. On its stop signal (or when supervisord closes its
stdin) it exits 0, after answering the event in hand if there is one.
"""
from __future__ import annotations

import asyncio
import signal
import sys

import asyncpg
import orjson

from common.settings.database import DatabaseSettings


def _parse(line: str) -> dict[str, str]:
    return dict(token.split(":", 1) for token in line.split() if ":" in token)


async def _record(url: str, program: str, detail: dict[str, str]) -> None:
    conn = await asyncpg.connect(url, timeout=3)
    try:
        await conn.execute(
            "INSERT INTO admin_alerts (kind, subject, detail) VALUES ('process_fatal', $1, $2::jsonb)",
            program, orjson.dumps(detail).decode())
    finally:
        await conn.close()


class _Stop:
    """SIGTERM ends the listener at once while it waits for an event, else after that event."""

    def __init__(self) -> None:
        self.idle = True
        self.requested = False

    def __call__(self, signum: int, frame: object) -> None:
        self.requested = True
        if self.idle:
            raise SystemExit(0)


def main() -> None:
    url = DatabaseSettings().url()
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stop.requested:
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:  # supervisord is gone
            return
        stop.idle = False
        header = _parse(line)
        payload = sys.stdin.read(int(header.get("len", 0)))
        if header.get("eventname") == "PROCESS_STATE_FATAL":
            body = _parse(payload.splitlines()[0] if payload else "")
            program = f"{body.get('groupname', '?')}:{body.get('processname', '?')}"
            sys.stderr.write(orjson.dumps({"level": "error", "event": "program entered FATAL", "program": program,
                                           "from_state": body.get("from_state")}).decode() + "\n")
            sys.stderr.flush()
            try:
                asyncio.run(asyncio.wait_for(_record(url, program, body), 5))
            except Exception as exc:  # noqa: BLE001 - the log line above is the fallback
                sys.stderr.write(f'{{"level":"warning","event":"alert not queued","error":"{type(exc).__name__}"}}\n')
        sys.stdout.write("RESULT 2\nOK")
        sys.stdout.flush()
        stop.idle = True


if __name__ == "__main__":
    main()
