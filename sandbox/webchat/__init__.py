"""The web chat: a page where a person talks to the bot as in a Telegram client.

A static page (``chat.html``, ``chat.js``, ``chat.css``, shipped in this package, no build step)
that drives the Telegram stand-in's control API from the browser: it sends messages, taps inline
buttons (a callback query), pays Stars invoices, follows the chat through the long poll
``/_control/chats/{id}/wait`` and renders what the bot did, edits and deletions applied. A switch
lets the person act as another user id (an admin, say) with its own first name and language.

Mounted on the Telegram stand-in's aiohttp application (``TelegramStandIn(web_chat=...)`` or
``python -m sandbox.telegram --web-chat``):

    GET /chat                 the page
    GET /chat/chat.js|.css    its script and style
    GET /chat/config.json     default user and the personas offered by the user switch

The page talks to the control API of the origin it was served from; ``/chat?api=<url>`` points it
at a stand-in elsewhere (the control API sends CORS headers), ``?user=<id>&name=<first name>
&lang=<code>`` opens it as that user.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import resources

from aiohttp import web

PATH = "/chat"
_ASSETS = {
    "chat.js": "text/javascript",
    "chat.css": "text/css",
}
# The page renders untrusted bot text with DOM text nodes only; the policy makes any slip inert.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; "
    "connect-src *; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@dataclass(frozen=True)
class Persona:
    """A user the switch offers with one click."""

    id: int
    first_name: str
    language_code: str = "en"
    label: str = ""

    def __post_init__(self) -> None:
        if self.id <= 0:
            raise ValueError("user ids are positive")


@dataclass(frozen=True)
class WebChatConfig:
    default_user: Persona = Persona(id=100_001, first_name="Demo", language_code="en", label="Demo user")
    personas: tuple[Persona, ...] = field(default_factory=tuple)
    title: str = "ATCS web chat"

    def to_json(self) -> dict:
        personas = [self.default_user, *(p for p in self.personas if p.id != self.default_user.id)]
        return {
            "title": self.title,
            "default_user": asdict(self.default_user),
            "personas": [asdict(p) for p in personas],
        }


def _asset(name: str) -> bytes:
    return resources.files(__name__).joinpath(name).read_bytes()


def add_web_chat_routes(app: web.Application, config: WebChatConfig | None = None) -> None:
    """Serve the web chat under /chat on an app that also serves the Telegram control API."""
    config = config or WebChatConfig()
    # Read once: the files ship in the package and do not change while it runs.
    page = _asset("chat.html")
    assets = {name: (_asset(name), kind) for name, kind in _ASSETS.items()}
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}

    async def show_page(request: web.Request) -> web.Response:
        return web.Response(
            body=page,
            content_type="text/html",
            charset="utf-8",
            headers={**headers, "Content-Security-Policy": _CSP, "Referrer-Policy": "no-referrer"},
        )

    async def show_asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, kind = found
        return web.Response(body=body, content_type=kind, charset="utf-8", headers=headers)

    async def show_config(request: web.Request) -> web.Response:
        return web.json_response(config.to_json(), headers=headers)

    async def add_slash(request: web.Request) -> web.Response:
        raise web.HTTPFound(PATH + (f"?{request.query_string}" if request.query_string else ""))

    app.router.add_get(PATH, show_page)
    app.router.add_get(f"{PATH}/", add_slash)
    app.router.add_get(f"{PATH}/config.json", show_config)
    app.router.add_get(f"{PATH}/{{name}}", show_asset)


__all__ = ["PATH", "Persona", "WebChatConfig", "add_web_chat_routes"]
