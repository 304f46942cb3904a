"""Run a stand-in as a process until SIGINT/SIGTERM.

Used by the ``python -m sandbox....`` entry points. The first line on stdout is
a JSON object with the URLs, so a parent process (a test, the offline demo)
can read it to know the stand-in is ready instead of sleeping.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Callable

from sandbox.kit.server import StandInServer


def add_tls_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--https", action="store_true",
                        help="serve https with a self-signed certificate made at start (its SHA-256 is printed "
                             "as certSha256)")


def with_certificate(standin: StandInServer, info: dict) -> dict:
    """The readiness line, with the certificate's SHA-256 when it serves https."""
    return {**info, "certSha256": standin.cert_sha256} if standin.tls else info


async def _serve(standin: StandInServer, describe: Callable[[StandInServer], dict]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await standin.start()
    try:
        sys.stdout.write(json.dumps(describe(standin)) + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await standin.stop()


def run(standin: StandInServer, describe: Callable[[StandInServer], dict]) -> None:
    asyncio.run(_serve(standin, describe))
