"""Demo mode: without ATCS_BOT_TOKEN the system talks to the local stand-ins in sandbox/."""
from __future__ import annotations

import os

from common.config import Settings

DEMO_BOT_TOKEN = "123456789:DEMO-sandbox-token-not-a-real-bot-000"
DEMO_CRYPTOPAY_TOKEN = "12345:DEMOsandboxCryptoPayToken"
SANDBOX_HOST = "127.0.0.1"
SANDBOX_PORT = int(os.environ.get("ATCS_SANDBOX_PORT", "8090"))

SANDBOX_PROGRAM = """[program:sandbox]
command={python} -m sandbox.demo
directory={root}
priority=1
autostart=true
autorestart=true
startsecs=1
stopsignal=TERM
stopwaitsecs=10
stopasgroup=true
killasgroup=true
stdout_logfile={logs}/sandbox.log
redirect_stderr=true
"""


def enabled(settings: Settings) -> bool:
    token = settings.telegram.bot_token
    return token is None or not token.get_secret_value()


def environment() -> dict[str, str]:
    base = f"http://{SANDBOX_HOST}:{SANDBOX_PORT}"
    return {
        "ATCS_DEMO": "1",
        "ATCS_SANDBOX_PORT": str(SANDBOX_PORT),
        "ATCS_BOT_TOKEN": DEMO_BOT_TOKEN,
        "ATCS_TELEGRAM_API_URL": base,
        "ATCS_CRYPTOPAY_TOKEN": DEMO_CRYPTOPAY_TOKEN,
        "ATCS_CRYPTOPAY_API_URL": base,
    }


def web_chat_url() -> str:
    return f"http://{SANDBOX_HOST}:{SANDBOX_PORT}/chat"
