"""python -m sandbox.telegram --host 127.0.0.1 --port 8090 --token TOKEN

Prints one JSON line on stdout once listening, like the other stand-ins (sandbox.kit.process reads
it as the readiness signal): {"service": "telegram", "url": ..., "api_url": ..., "control_url": ...,
"token": ..., "bot_username": ...} (plus "web_chat_url" with --web-chat). Runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from .config import Limits
from .server import DEFAULT_TOKEN, TelegramStandIn


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox.telegram", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--bot-username", default="atcs_test_bot")
    parser.add_argument("--bot-name", default="ATCS Test Bot")
    parser.add_argument("--strict-chats", action="store_true", help="refuse chats whose user never wrote")
    parser.add_argument("--web-chat", action="store_true", help="also serve the web chat page at /chat")
    parser.add_argument("--limits", default="{}", help='JSON, e.g. {"chat_rate": 5, "callback_answer_window": 2}')
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    standin = TelegramStandIn(
        token=args.token,
        host=args.host,
        port=args.port,
        limits=Limits().updated(json.loads(args.limits)),
        bot_username=args.bot_username,
        bot_first_name=args.bot_name,
        strict_chats=args.strict_chats,
        web_chat=args.web_chat,
    )
    url = await standin.start()
    ready = {
        "service": "telegram",
        "url": url,
        "api_url": url,  # what ATCS_TELEGRAM_API_URL should be set to
        "control_url": f"{url}/_control",
        "token": standin.token,
        "bot_username": args.bot_username,
    }
    if standin.web_chat_url:
        ready["web_chat_url"] = standin.web_chat_url
    print(json.dumps(ready), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await standin.stop()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
