"""``python -m sandbox.panels.marzban --port 8704 --admin-username admin --admin-password P``

Prints one JSON line with the URLs once it listens, then runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse

from sandbox.kit.cli import run, with_certificate
from sandbox.panels.base import add_panel_arguments
from sandbox.panels.marzban.standin import MarzbanStandIn


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.panels.marzban", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--admin-username", default="admin", help="admin the token endpoint accepts")
    parser.add_argument("--admin-password", default="sandbox-marzban-password")
    parser.add_argument("--token-ttl", type=float, default=86400.0, help="seconds an access token is valid")
    parser.add_argument("--subscription-prefix", default="",
                        help="XRAY_SUBSCRIPTION_URL_PREFIX; empty gives relative subscription URLs, as the panel does")
    add_panel_arguments(parser, MarzbanStandIn)
    args = parser.parse_args()
    standin = MarzbanStandIn(
        admin_username=args.admin_username, admin_password=args.admin_password, host=args.host, port=args.port,
        tls=args.https, version=args.panel_version, token_ttl=args.token_ttl,
        subscription_prefix=args.subscription_prefix,
    )
    run(standin, lambda s: with_certificate(s, {"service": "marzban", "url": s.url, "api_url": s.api_url,
                                                "version": s.version}))


if __name__ == "__main__":
    main()
