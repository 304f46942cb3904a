"""``python -m sandbox.panels.xui --port 8704 --username admin --password admin``

Prints one JSON line with the URLs once it listens, then runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse

from sandbox.kit.cli import run, with_certificate
from sandbox.panels.base import add_panel_arguments
from sandbox.panels.xui.standin import XuiStandIn


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.panels.xui", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--username", default="admin", help="panel login username")
    parser.add_argument("--password", default="admin", help="panel login password")
    parser.add_argument("--inbound-id", type=int, default=1, help="id of the VLESS inbound clients are added to")
    parser.add_argument("--session-ttl", type=float, default=3600.0, help="seconds a login session lasts")
    add_panel_arguments(parser, XuiStandIn)
    args = parser.parse_args()
    standin = XuiStandIn(
        username=args.username, password=args.password, host=args.host, port=args.port, tls=args.https,
        version=args.panel_version,
        inbound_id=args.inbound_id, session_ttl=args.session_ttl,
    )
    run(standin, lambda s: with_certificate(s, {"service": "3x-ui", "url": s.url, "inbound_id": s.inbound_id,
                                                "version": s.version}))


if __name__ == "__main__":
    main()
