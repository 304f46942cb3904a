"""Outline access URLs: SIP002 ``ss://`` links, as the real server prints them.

Format: ``ss://<base64url(method:password), no padding>@<host>:<port>/?outline=1``
(upstream builds it with outline-shadowsocksconfig's ``SIP002_URI.stringify``).
Clients (the bot shows it, Outline apps import it) only need it to parse.
"""

from __future__ import annotations

import base64
import ipaddress


def access_url(method: str, password: str, host: str, port: int) -> str:
    user_info = base64.urlsafe_b64encode(f"{method}:{password}".encode()).decode().rstrip("=")
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a hostname, used as is
    return f"ss://{user_info}@{host}:{port}/?outline=1"


def parse_access_url(url: str) -> dict:
    """Inverse of ``access_url`` (used by tests and handy for the gateway's)."""
    if not url.startswith("ss://"):
        raise ValueError("not an ss:// URL")
    rest = url[len("ss://") :]
    user_info, _, location = rest.partition("@")
    host_port = location.split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    padded = user_info + "=" * (-len(user_info) % 4)
    method, _, password = base64.urlsafe_b64decode(padded).decode().partition(":")
    return {"method": method, "password": password, "host": host.strip("[]"), "port": int(port)}
