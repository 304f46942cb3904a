"""Demo mode: without ATCS_BOT_TOKEN the system talks to the local stand-ins in sandbox/.

`atcs up` then adds the `sandbox` program (`python -m sandbox.demo`: the Telegram stand-in with
the web chat, Crypto Pay, and an Outline, a Remnawave, a Marzban and a 3x-ui panel, in one
process) and starts supervisord with `environment()` added, which points every service at those
stand-ins and tells the sandbox the same tokens, credentials and ports. This module only writes
configuration: it never imports the sandbox.

Ports (127.0.0.1; override by environment variable, read by both sides):
    ATCS_SANDBOX_PORT            8090  Telegram Bot API, its control API and the web chat (/chat)
    ATCS_SANDBOX_CRYPTOPAY_PORT  8091  Crypto Pay API and the invoices' pay pages
    ATCS_SANDBOX_OUTLINE_PORT    8092  Outline management API
    ATCS_SANDBOX_REMNAWAVE_PORT  8093  Remnawave panel API
    ATCS_SANDBOX_MARZBAN_PORT    8094  Marzban panel API
    ATCS_SANDBOX_XUI_PORT        8095  3x-ui panel (login and API)
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import orjson

from ops.all_settings import LaunchSettings
from services.vpn_gateway.settings import VpnServer

DEMO_BOT_TOKEN = "123456789:DEMO-sandbox-token-not-a-real-bot-000"
DEMO_CRYPTOPAY_TOKEN = "12345:DEMOsandboxCryptoPayToken"
# A real Outline server's secret path prefix is 16 random bytes in base64url (22 characters).
DEMO_OUTLINE_API_PREFIX = "DEMOsandboxOutlineKey0"
DEMO_REMNAWAVE_TOKEN = "demo-sandbox-remnawave-api-token"
DEMO_MARZBAN_USERNAME = "atcs_demo"
DEMO_MARZBAN_PASSWORD = "demo-sandbox-marzban-password"
DEMO_XUI_USERNAME = "atcs-demo"
DEMO_XUI_PASSWORD = "demo-sandbox-xui-password"
# The 3x-ui stand-in starts with one VLESS Reality inbound; new clients go there, with the XTLS
# flow such an inbound wants.
DEMO_XUI_INBOUND_ID = 1
DEMO_XUI_FLOW = "xtls-rprx-vision"
# Made an admin in demo mode when ATCS_ADMIN_IDS is empty, so the web chat can show the admin side.
DEMO_ADMIN_ID = 1_000_001
DEMO_BOT_USERNAME = "atcs_demo_bot"
DEMO_BOT_NAME = "ATCS Demo"
SANDBOX_HOST = "127.0.0.1"
PORT_DEFAULTS = {
    "ATCS_SANDBOX_PORT": 8090,
    "ATCS_SANDBOX_CRYPTOPAY_PORT": 8091,
    "ATCS_SANDBOX_OUTLINE_PORT": 8092,
    "ATCS_SANDBOX_REMNAWAVE_PORT": 8093,
    "ATCS_SANDBOX_MARZBAN_PORT": 8094,
    "ATCS_SANDBOX_XUI_PORT": 8095,
}
OUTLINE_SERVER = "demo-outline"
REMNAWAVE_SERVER = "demo-remnawave"
MARZBAN_SERVER = "demo-marzban"
XUI_SERVER = "demo-3x-ui"

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


def enabled(settings: LaunchSettings) -> bool:
    token = settings.telegram.bot_token
    return token is None or not token.get_secret_value()


def ports(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """The sandbox ports by variable name, from the environment or the defaults."""
    environ = os.environ if environ is None else environ
    found: dict[str, int] = {}
    for name, default in PORT_DEFAULTS.items():
        raw = (environ.get(name) or "").strip()
        try:
            port = int(raw) if raw else default
        except ValueError:
            raise ValueError(f"{name} is invalid (got {raw!r}): expected a port number") from None
        if not 1 <= port <= 65535:
            raise ValueError(f"{name} is invalid (got {raw!r}): expected a port number")
        found[name] = port
    return found


def urls(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Where each stand-in listens, in the form the services are configured with."""
    p = ports(environ)
    telegram = f"http://{SANDBOX_HOST}:{p['ATCS_SANDBOX_PORT']}"
    return {
        "telegram": telegram,
        "web_chat": f"{telegram}/chat",
        "cryptopay": f"http://{SANDBOX_HOST}:{p['ATCS_SANDBOX_CRYPTOPAY_PORT']}",
        "outline": f"http://{SANDBOX_HOST}:{p['ATCS_SANDBOX_OUTLINE_PORT']}/{DEMO_OUTLINE_API_PREFIX}",
        "remnawave": f"http://{SANDBOX_HOST}:{p['ATCS_SANDBOX_REMNAWAVE_PORT']}",
        "marzban": f"http://{SANDBOX_HOST}:{p['ATCS_SANDBOX_MARZBAN_PORT']}",
        "xui": f"http://{SANDBOX_HOST}:{p['ATCS_SANDBOX_XUI_PORT']}",
    }


def vpn_servers(environ: Mapping[str, str] | None = None) -> list[dict]:
    """ATCS_VPN_SERVERS for the demo: one server of each backend (Outline, Remnawave, Marzban, 3x-ui),
    all stand-ins."""
    where = urls(environ)
    servers = [
        {"name": OUTLINE_SERVER, "backend": "outline", "api_url": where["outline"], "capacity": 1000},
        {"name": REMNAWAVE_SERVER, "backend": "remnawave", "api_url": where["remnawave"],
         "token": DEMO_REMNAWAVE_TOKEN, "capacity": 1000},
        {"name": MARZBAN_SERVER, "backend": "marzban", "api_url": where["marzban"],
         "admin_username": DEMO_MARZBAN_USERNAME, "admin_password": DEMO_MARZBAN_PASSWORD, "capacity": 1000},
        {"name": XUI_SERVER, "backend": "3x-ui", "api_url": where["xui"], "admin_username": DEMO_XUI_USERNAME,
         "admin_password": DEMO_XUI_PASSWORD, "inbound_id": DEMO_XUI_INBOUND_ID, "flow": DEMO_XUI_FLOW,
         "capacity": 1000},
    ]
    for server in servers:  # fail here, not in vpn_gateway, if the schema moved on
        VpnServer.model_validate(server)
    return servers


def webhook_url(settings: LaunchSettings) -> str:
    """Where the Crypto Pay stand-in posts invoice_paid: the payments service's webhook."""
    host = settings.payments.payments_host
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.payments.payments_port}/webhooks/cryptobot"


def environment(settings: LaunchSettings | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables added to supervisord's environment in demo mode (services and sandbox alike)."""
    settings = settings or LaunchSettings.read()
    where = urls(environ)
    admins = list(settings.telegram.admin_ids)
    env = {
        "ATCS_DEMO": "1",
        **{name: str(port) for name, port in ports(environ).items()},
        "ATCS_BOT_TOKEN": DEMO_BOT_TOKEN,
        "ATCS_TELEGRAM_API_URL": where["telegram"],
        "ATCS_CRYPTOPAY_TOKEN": DEMO_CRYPTOPAY_TOKEN,
        "ATCS_CRYPTOPAY_API_URL": where["cryptopay"],
        "ATCS_VPN_SERVERS": orjson.dumps(vpn_servers(environ)).decode(),
        # What only the sandbox reads: the panels' credentials, the webhook target, the web chat's users.
        "ATCS_SANDBOX_OUTLINE_API_PREFIX": DEMO_OUTLINE_API_PREFIX,
        "ATCS_SANDBOX_REMNAWAVE_TOKEN": DEMO_REMNAWAVE_TOKEN,
        "ATCS_SANDBOX_MARZBAN_USERNAME": DEMO_MARZBAN_USERNAME,
        "ATCS_SANDBOX_MARZBAN_PASSWORD": DEMO_MARZBAN_PASSWORD,
        "ATCS_SANDBOX_XUI_USERNAME": DEMO_XUI_USERNAME,
        "ATCS_SANDBOX_XUI_PASSWORD": DEMO_XUI_PASSWORD,
        "ATCS_SANDBOX_CRYPTOPAY_WEBHOOK_URL": webhook_url(settings),
        "ATCS_SANDBOX_ADMIN_IDS": ",".join(str(i) for i in admins or [DEMO_ADMIN_ID]),
    }
    if not admins:
        env["ATCS_ADMIN_IDS"] = str(DEMO_ADMIN_ID)
    return env


def web_chat_url(environ: Mapping[str, str] | None = None) -> str:
    return urls(environ)["web_chat"]


def banner(settings: LaunchSettings, environ: Mapping[str, str] | None = None) -> str:
    """What `atcs up` prints in demo mode."""
    where = urls(environ)
    admins = list(settings.telegram.admin_ids) or [DEMO_ADMIN_ID]
    return "\n".join([
        f"Demo mode (no ATCS_BOT_TOKEN): open the web chat at {where['web_chat']}",
        f"  stand-ins: Telegram {where['telegram']}, Crypto Pay {where['cryptopay']} (log: var/log/sandbox.log)",
        (f"  VPN panels: Outline {where['outline'].rsplit('/', 1)[0]}, Remnawave {where['remnawave']}, "
         f"Marzban {where['marzban']}, 3x-ui {where['xui']}"),
        f"  admin user id: {', '.join(map(str, admins))} (\"Act as another user\" in the web chat)",
    ])
