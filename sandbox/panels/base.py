"""What every VPN-panel stand-in shares: faults, request counts, a clock, and
the control API outside the panel's own API paths.

    GET    /_control/stats     {"accounts", "create_attempts", "creates_succeeded", "deletes", "requests": {...}}
    POST   /_control/reset     forget all accounts, faults, counters, clock offset
    POST   /_control/clock     {"advance": seconds}
    GET|POST|DELETE /_control/faults[/{id}]   see sandbox.kit.faults
    POST   /_control/version   {"version": "2.8.0"}: the panel reports another version from now on

"create_attempts" counts create requests as they arrive, before any injected
fault, so a test can prove that a retrying gateway created exactly one
account even when some attempts failed or were cut off.
"""

from __future__ import annotations

import argparse
from typing import Optional

from aiohttp import web

from sandbox.kit.cli import add_tls_argument
from sandbox.kit.clock import Clock, iso_ms
from sandbox.kit.counters import RequestCounters, counting_middleware
from sandbox.kit.faults import FaultRegistry, add_fault_routes, fault_middleware
from sandbox.kit.server import StandInServer


class PanelStandIn(StandInServer):
    # Route keys ("METHOD /template") whose requests create an account.
    create_routes: tuple[str, ...] = ()
    # The panel version it reports by default: the one its API follows.
    default_version: str = ""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, tls: bool = False,
                 version: Optional[str] = None) -> None:
        super().__init__(host=host, port=port, tls=tls)
        # What the panel says it is; another value (say "2.8.0") plays a panel of another
        # version, the API staying this one's: enough to prove a client reads and checks it.
        self.version = version or self.default_version
        self.clock = Clock()
        self.faults = FaultRegistry()
        self.counters = RequestCounters()
        self.creates_succeeded = 0
        self.deletes = 0

    # ---- to be provided by each panel --------------------------------------
    def add_api_routes(self, app: web.Application) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def route_key(self, request: web.Request) -> Optional[str]:  # pragma: no cover - abstract
        """``"METHOD /template"`` for API routes, None for anything else."""
        raise NotImplementedError

    def error_body(self, request: web.Request, status: int) -> web.Response:  # pragma: no cover
        """An injected error, in the panel's own error format."""
        raise NotImplementedError

    def account_count(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def reset_accounts(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def add_panel_control_routes(self, app: web.Application) -> None:
        """Panel-specific control endpoints (e.g. simulated traffic)."""

    def api_middlewares(self) -> list:
        """Middlewares inside the fault layer (e.g. auth, error mapping)."""
        return []

    # ---- shared ------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[
                counting_middleware(self.counters, self.route_key),
                fault_middleware(self.faults, self.route_key, self.error_body),
                *self.api_middlewares(),
            ]
        )
        self._add_control_routes(app)
        self.add_api_routes(app)
        return app

    def _add_control_routes(self, app: web.Application) -> None:
        async def stats(request: web.Request) -> web.Response:
            return web.json_response(self.stats())

        async def reset(request: web.Request) -> web.Response:
            self.reset()
            return web.json_response({"reset": True})

        async def clock(request: web.Request) -> web.Response:
            try:
                body = await request.json() if request.body_exists else {}
                now = self.advance_time(float(body.get("advance", 0)))
            except (ValueError, TypeError, AttributeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
            return web.json_response({"now": now})

        async def version(request: web.Request) -> web.Response:
            try:
                body = await request.json()
                reported = body["version"]
                if not isinstance(reported, str) or not reported:
                    raise ValueError("version must be a non-empty string")
            except (ValueError, TypeError, KeyError) as exc:
                return web.json_response({"error": f"bad request: {exc}"}, status=400)
            self.version = reported
            return web.json_response({"version": self.version})

        app.router.add_get("/_control/stats", stats)
        app.router.add_post("/_control/version", version)
        app.router.add_post("/_control/reset", reset)
        app.router.add_post("/_control/clock", clock)
        add_fault_routes(app, self.faults)
        self.add_panel_control_routes(app)

    def stats(self) -> dict:
        return {
            "accounts": self.account_count(),
            "create_attempts": sum(self.counters.count(key) for key in self.create_routes),
            "creates_succeeded": self.creates_succeeded,
            "deletes": self.deletes,
            "requests": self.counters.snapshot(),
        }

    def reset(self) -> None:
        self.reset_accounts()
        self.faults.clear()
        self.counters.clear()
        self.clock.reset()
        self.creates_succeeded = 0
        self.deletes = 0

    def add_fault(self, **spec) -> dict:
        return self.faults.add(**spec).to_json()

    def clear_faults(self) -> None:
        self.faults.clear()

    def advance_time(self, seconds: float) -> str:
        return iso_ms(self.clock.advance(seconds))


def add_panel_arguments(parser: argparse.ArgumentParser, standin: type[PanelStandIn]) -> None:
    """--https and --panel-version, for every panel's ``python -m`` entry point."""
    add_tls_argument(parser)
    parser.add_argument("--panel-version", default=None,
                        help=f"the version the panel reports (default {standin.default_version}; another plays "
                             "an upgraded or older panel)")


def template_key(request: web.Request, strip_prefix: str = "") -> Optional[str]:
    """``"METHOD /path/{param}"`` from the matched aiohttp resource, with a
    leading ``strip_prefix`` (Outline's secret path) removed."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    template = resource.canonical
    if strip_prefix:
        if not template.startswith(strip_prefix + "/"):
            return None
        template = template[len(strip_prefix) :]
    return f"{request.method} {template}"
