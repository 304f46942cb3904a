"""Run a stand-in as a process until SIGINT/SIGTERM.

Used by the ``python -m sandbox....`` entry points. The first line on stdout is
a JSON object with the URLs, so a parent process (a test, the offline demo)
can read it to know the stand-in is ready instead of sleeping.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Callable

from sandbox.kit.server import StandInServer


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
