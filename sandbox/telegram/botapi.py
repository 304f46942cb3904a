"""HTTP face of the Bot API: /bot<token>/<method> and /file/bot<token>/<path>.

Every call is logged, passed through injected faults, dispatched to its method and answered in
Telegram's envelope with the HTTP status equal to error_code.
"""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

# Importing the method modules fills the registry.
from . import methods_chat, methods_paid_broadcast, methods_stars  # noqa: F401
from .errors import NOT_FOUND, UNAUTHORIZED, ApiError
from .keys import WORLD
from .params import Params
from .registry import lookup
from .state import World


def envelope_response(body: dict, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def handle_method(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD]
    try:
        return await _answer(request, world)
    finally:
        world.wakeup.fire()  # the call's final status is now in the log


async def _answer(request: web.Request, world: World) -> web.StreamResponse:
    if request.match_info["token"] != world.config.token:
        return envelope_response(UNAUTHORIZED.envelope(), 401)
    entry = lookup(request.match_info["method"])
    name = entry[0] if entry else request.match_info["method"]
    record = world.record_call(name, {})
    try:
        params = await Params.from_request(request)
        record.params = params.loggable()
        fault = world.faults.take(name)
        if fault is not None:
            if fault.latency:
                # Interruptible, so stopping the stand-in never waits out an injected delay.
                await world.wakeup.wait_for(lambda: True if world.closing else None, fault.latency)
            if fault.outage:
                record.description = "outage: connection closed without an answer"
                if request.transport is not None:
                    request.transport.close()
                raise asyncio.CancelledError
            if fault.status is not None and fault.raw_body is not None:
                record.status, record.description = fault.status, "raw body"
                return web.Response(text=fault.raw_body, status=fault.status, content_type="text/html")
            error = fault.error()
            if error is not None:
                raise error
        if entry is None:
            raise NOT_FOUND
        result = await entry[1](world, params)
    except ApiError as error:
        record.status, record.description = error.status, error.description
        return envelope_response(error.envelope(), error.status)
    record.status = 200
    return envelope_response({"ok": True, "result": result})


async def handle_file(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD]
    if request.match_info["token"] != world.config.token:
        return envelope_response(UNAUTHORIZED.envelope(), 401)
    record = world.file_by_path(request.match_info["path"])
    if record is None:
        return envelope_response(NOT_FOUND.envelope(), 404)
    return web.Response(body=record.data, content_type=record.mime_type or "application/octet-stream")


def add_bot_api_routes(app: web.Application) -> None:
    for verb in ("GET", "POST"):
        app.router.add_route(verb, "/bot{token}/{method}", handle_method)
    app.router.add_get("/file/bot{token}/{path:.+}", handle_file)
