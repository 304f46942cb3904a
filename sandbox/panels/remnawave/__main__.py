"""``python -m sandbox.panels.remnawave --port 8703 --token T``

Prints one JSON line with the URLs once it listens, then runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse

from sandbox.kit.cli import run, with_certificate
from sandbox.panels.base import add_panel_arguments
from sandbox.panels.remnawave.standin import RemnawaveStandIn


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.panels.remnawave", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default="sandbox-remnawave-api-token", help="Bearer token the API accepts")
    parser.add_argument("--subscription-base", default=None, help="base of subscriptionUrl (default <url>/api/sub)")
    add_panel_arguments(parser, RemnawaveStandIn)
    args = parser.parse_args()
    standin = RemnawaveStandIn(
        token=args.token, host=args.host, port=args.port, tls=args.https, version=args.panel_version,
        subscription_base=args.subscription_base,
    )
    run(standin, lambda s: with_certificate(s, {"service": "remnawave", "url": s.url, "api_url": s.api_url,
                                                "version": s.version}))


if __name__ == "__main__":
    main()
