"""``python -m sandbox.cryptopay --port 8701 --token T --webhook-url http://127.0.0.1:8080/webhooks/cryptobot``

Prints one JSON line with the URLs once it listens, then runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse

from sandbox.cryptopay.standin import CryptoPayStandIn
from sandbox.cryptopay.webhooks import DeliveryPolicy
from sandbox.kit.cli import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.cryptopay", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default="1234:AAsandboxCryptoPayToken", help="app API token")
    parser.add_argument("--webhook-url", default=None, help="where invoice_paid updates are POSTed")
    parser.add_argument("--public-url", default=None, help="base URL put into invoice links")
    parser.add_argument("--max-attempts", type=int, default=5, help="webhook delivery attempts")
    parser.add_argument("--retry-delay", type=float, default=0.5, help="first retry delay, doubled each time")
    args = parser.parse_args()
    standin = CryptoPayStandIn(
        token=args.token,
        webhook_url=args.webhook_url,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        delivery=DeliveryPolicy(max_attempts=args.max_attempts, base_delay=args.retry_delay),
    )
    run(
        standin,
        lambda s: {"service": "cryptopay", "url": s.url, "api_url": s.api_url, "webhook_url": s.webhooks.url},
    )


if __name__ == "__main__":
    main()
