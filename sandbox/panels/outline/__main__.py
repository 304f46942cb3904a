"""``python -m sandbox.panels.outline --port 8702 [--api-prefix SECRET] [--https]``

Prints one JSON line once it listens (``apiUrl``, and with ``--https``
``certSha256``, as a real Outline install prints them), then runs until
SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse

from sandbox.kit.cli import run
from sandbox.panels.base import add_panel_arguments
from sandbox.panels.outline.standin import OutlineStandIn


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.panels.outline", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-prefix", default=None, help="secret path prefix (random by default)")
    parser.add_argument("--hostname-for-access-keys", default="127.0.0.1")
    add_panel_arguments(parser, OutlineStandIn)
    args = parser.parse_args()
    standin = OutlineStandIn(
        api_prefix=args.api_prefix,
        host=args.host,
        port=args.port,
        tls=args.https,
        version=args.panel_version,
        hostname_for_access_keys=args.hostname_for_access_keys,
    )
    run(standin, lambda s: {"service": "outline", "url": s.url, **s.access()})


if __name__ == "__main__":
    main()
