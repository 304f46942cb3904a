"""The test harness's side door, under /_control/: act as users, read what the bot did, inject
faults, change limits. JSON in, JSON out; errors are {"error": "..."} with a 4xx status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from .errors import ControlError
from .faults import Fault
from .keys import ACTIONS, WORLD
from . import subscriptions
from .state import World

Handler = Callable[[web.Request], Awaitable[Any]]
MAX_WAIT = 120.0


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ControlError(400, "body must be JSON") from None
    if not isinstance(data, dict):
        raise ControlError(400, "body must be a JSON object")
    return data


def _int(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise ControlError(400, f"{name} must be an integer") from None


def _json_handler(fn: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            result = await fn(request)
        except ControlError as error:
            return _json({"error": error.message}, error.status)
        except (ValueError, TypeError) as error:
            return _json({"error": str(error)}, 400)
        return result if isinstance(result, web.StreamResponse) else _json(result)

    return wrapped


def _chat_view(world: World, chat_id: int) -> dict[str, Any]:
    log = world.chats.get(chat_id)
    return {"chat_id": chat_id, "version": log.version if log else 0, "messages": world.transcript(chat_id)}


# --- users ------------------------------------------------------------------------------------


async def user_message(request: web.Request) -> Any:
    body = await _body(request)
    profile = {k: body.get(k) for k in ("first_name", "last_name", "username", "language_code")}
    return request.app[ACTIONS].message(_int(request, "user_id"), body.get("text", ""), **profile)


async def user_tap(request: web.Request) -> Any:
    body = await _body(request)
    return request.app[ACTIONS].tap(
        _int(request, "user_id"), label=body.get("label"), data=body.get("data"), message_id=body.get("message_id")
    )


async def user_pay_invoice(request: web.Request) -> Any:
    body = await _body(request)
    return await request.app[ACTIONS].pay_invoice(
        _int(request, "user_id"),
        message_id=body.get("message_id"),
        drop_update=bool(body.get("drop_update", False)),
        timeout=body.get("timeout"),
    )


async def user_pay_link(request: web.Request) -> Any:
    body = await _body(request)
    return await request.app[ACTIONS].pay_link(
        _int(request, "user_id"), str(body.get("url", "")), copies=int(body.get("copies", 1)), timeout=body.get("timeout")
    )


async def user_chargeback(request: web.Request) -> Any:
    body = await _body(request)
    return request.app[ACTIONS].chargeback(
        _int(request, "user_id"), str(body.get("charge_id", "")), silent=bool(body.get("silent", False))
    )


async def user_stars(request: web.Request) -> Any:
    body = await _body(request)
    return request.app[ACTIONS].set_stars(_int(request, "user_id"), body.get("stars"))


async def user_renew_now(request: web.Request) -> Any:
    body = await _body(request)
    return subscriptions.advance_to_renewal(
        request.app[WORLD], _int(request, "user_id"), copies=int(body.get("copies", 1))
    )


async def clock_advance(request: web.Request) -> Any:
    body = await _body(request)
    return subscriptions.advance(request.app[WORLD], int(body.get("seconds", 0)), copies=int(body.get("copies", 1)))


async def user_block(request: web.Request) -> Any:
    return request.app[ACTIONS].block(_int(request, "user_id"))


async def user_unblock(request: web.Request) -> Any:
    return request.app[ACTIONS].unblock(_int(request, "user_id"))


# --- inspection -------------------------------------------------------------------------------


async def chat_messages(request: web.Request) -> Any:
    return _chat_view(request.app[WORLD], _int(request, "chat_id"))


async def chat_wait(request: web.Request) -> Any:
    """Long poll: answer once the chat's version exceeds after_version (or at timeout).

    Lets a client in another process wait for the bot without sleeping in a loop.
    """
    world = request.app[WORLD]
    chat_id = _int(request, "chat_id")
    after = int(request.query.get("after_version", "-1"))
    timeout = min(float(request.query.get("timeout", "10")), MAX_WAIT)

    def probe() -> bool | None:
        log = world.chats.get(chat_id)
        return True if world.closing or (log.version if log else 0) > after else None

    await world.wakeup.wait_for(probe, timeout)
    return _chat_view(world, chat_id)


async def file_bytes(request: web.Request) -> Any:
    record = request.app[WORLD].files.get(request.match_info["file_id"])
    if record is None:
        raise ControlError(404, "no such file_id")
    headers = {"Content-Disposition": f'attachment; filename="{record.filename or "file"}"'}
    return web.Response(body=record.data, content_type=record.mime_type or "application/octet-stream", headers=headers)


async def calls(request: web.Request) -> Any:
    wanted = request.query.get("method", "").lower()
    return [c.to_json() for c in request.app[WORLD].calls if not wanted or c.method.lower() == wanted]


async def callback_queries(request: web.Request) -> Any:
    return [record.summary() for record in request.app[WORLD].callbacks.values()]


async def star_transactions(request: web.Request) -> Any:
    world = request.app[WORLD]
    return [{**t.api(world.user(t.user_id).api()), "refund": t.refund} for t in world.transactions]


async def star_subscriptions(request: web.Request) -> Any:
    world = request.app[WORLD]
    wanted = request.query.get("user_id")
    return [
        {**s.to_json(), "user_stars": world.user(s.user_id).stars}
        for s in world.subscriptions.values()
        if wanted is None or str(s.user_id) == wanted
    ]


async def pending_updates(request: web.Request) -> Any:
    return request.app[WORLD].updates


async def health(request: web.Request) -> Any:
    world = request.app[WORLD]
    return {"ok": True, "bot": world.bot_user}


# --- faults, limits, reset --------------------------------------------------------------------


async def add_fault(request: web.Request) -> Any:
    fault = Fault.from_json(await _body(request))
    request.app[WORLD].faults.add(fault)
    return fault.to_json()


async def list_faults(request: web.Request) -> Any:
    return request.app[WORLD].faults.to_json()


async def clear_faults(request: web.Request) -> Any:
    request.app[WORLD].faults.clear()
    return {"cleared": True}


async def get_limits(request: web.Request) -> Any:
    return request.app[WORLD].limits.to_json()


async def set_limits(request: web.Request) -> Any:
    world = request.app[WORLD]
    world.set_limits(world.limits.updated(await _body(request)))
    return world.limits.to_json()


async def reset(request: web.Request) -> Any:
    request.app[WORLD].reset()
    return {"reset": True}


async def _allow_browsers(request: web.Request, response: web.StreamResponse) -> None:
    # A web chat page served from another origin drives the control API straight from the browser.
    if request.path.startswith("/_control/"):
        response.headers["Access-Control-Allow-Origin"] = "*"


async def _preflight(request: web.Request) -> web.Response:
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "600",
        },
    )


def add_control_routes(app: web.Application) -> None:
    app.on_response_prepare.append(_allow_browsers)
    app.router.add_route("OPTIONS", "/_control/{tail:.*}", _preflight)
    routes = [
        ("GET", "/_control/health", health),
        ("POST", "/_control/users/{user_id}/message", user_message),
        ("POST", "/_control/users/{user_id}/tap", user_tap),
        ("POST", "/_control/users/{user_id}/pay_invoice", user_pay_invoice),
        ("POST", "/_control/users/{user_id}/pay_link", user_pay_link),
        ("POST", "/_control/users/{user_id}/chargeback", user_chargeback),
        ("POST", "/_control/users/{user_id}/stars", user_stars),
        ("POST", "/_control/users/{user_id}/renew_now", user_renew_now),
        ("POST", "/_control/clock/advance", clock_advance),
        ("GET", "/_control/star_subscriptions", star_subscriptions),
        ("POST", "/_control/users/{user_id}/block", user_block),
        ("POST", "/_control/users/{user_id}/unblock", user_unblock),
        ("GET", "/_control/chats/{chat_id}/messages", chat_messages),
        ("GET", "/_control/chats/{chat_id}/wait", chat_wait),
        ("GET", "/_control/files/{file_id}", file_bytes),
        ("GET", "/_control/calls", calls),
        ("GET", "/_control/callback_queries", callback_queries),
        ("GET", "/_control/star_transactions", star_transactions),
        ("GET", "/_control/updates", pending_updates),
        ("GET", "/_control/faults", list_faults),
        ("POST", "/_control/faults", add_fault),
        ("DELETE", "/_control/faults", clear_faults),
        ("GET", "/_control/limits", get_limits),
        ("POST", "/_control/limits", set_limits),
        ("POST", "/_control/reset", reset),
    ]
    for verb, path, handler in routes:
        app.router.add_route(verb, path, _json_handler(handler))
