"""`atcs`: run, stop and inspect the system.

    atcs up          start supervisord with every program (embedded database and demo sandbox when needed)
    atcs down        stop everything
    atcs status      supervisorctl status
    atcs config      print the effective configuration, secrets masked
    atcs migrate     apply pending migrations
    atcs curve-keys  print a fresh CURVE key pair for tcp:// endpoints
    atcs host-keys   write the CURVE keys every host of a several-host shop shares (docs/scaling.md)
    atcs host-config write one host's supervisord.conf: its role's programs, every endpoint list
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import orjson

from common.settings.base import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="atcs", description="ATCS: a Telegram shop for VPN subscriptions")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start everything under supervisord")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for every program to be RUNNING")
    sub.add_parser("down", help="stop everything and supervisord")
    sub.add_parser("status", help="process states")
    sub.add_parser("config", help="print the effective configuration (secrets masked)")
    migrate = sub.add_parser("migrate", help="apply pending migrations")
    migrate.add_argument("--wait", type=float, default=0.0, help="seconds to keep retrying while the database is down")
    sub.add_parser("curve-keys", help="print a CURVE key pair")
    host_keys = sub.add_parser("host-keys", help="write the CURVE keys shared by every host (mode 0600)")
    host_keys.add_argument("--out", type=Path, required=True, help="the keys file to write (refused if it exists)")
    host = sub.add_parser("host-config", help="write one host's supervisord.conf (mode 0600)")
    host.add_argument("--hosts", required=True, help="every host: name=address[:role],... (role: full, front, back)")
    host.add_argument("--host", required=True, help="the host to write the configuration of")
    host.add_argument("--keys", type=Path, required=True, help="the file `atcs host-keys` wrote")
    host.add_argument("--out", type=Path, required=True, help="folder to write supervisord.conf into")
    host.add_argument("--base-port", type=int, default=7300, help="first RPC port (one per service, in order)")
    host.add_argument("--root", type=Path, default=None, help="the checkout's path on that host (default: this one)")
    args = parser.parse_args(argv)
    try:
        if args.command == "config":
            from ops.all_settings import effective_config
            sys.stdout.write(orjson.dumps(effective_config(), option=orjson.OPT_INDENT_2).decode() + "\n")
            return 0
        if args.command == "migrate":
            from ops.migrate import run_migrations
            return asyncio.run(run_migrations(args.wait))
        if args.command == "curve-keys":
            import zmq
            public, secret = zmq.curve_keypair()
            print(f"public={public.decode()}\nsecret={secret.decode()}")
            return 0
        if args.command == "host-keys":
            from ops.host_config import write_keys
            write_keys(args.out)
            print(f"wrote {args.out} (0600): copy it to every host, never into the repository")
            return 0
        if args.command == "host-config":
            from common.paths import REPO_ROOT
            from ops.host_config import write_host
            target = write_host(args.out, args.hosts, args.host, args.keys, args.base_port, args.root or REPO_ROOT)
            print(f"wrote {target} (0600): supervisord -c {target}")
            return 0
        from ops import supervise
        if args.command == "up":
            return supervise.up(args.timeout)
        if args.command == "down":
            return supervise.down()
        if args.command == "status":
            return supervise.status()
    except ConfigError as exc:
        print(f"atcs: configuration error: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
