"""reply_markup as Telegram validates and stores it."""

from __future__ import annotations

from typing import Any

from .errors import bad_request

_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "login_url",
    "web_app",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
MAX_CALLBACK_DATA_BYTES = 64


def _drop_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nones(v) for v in value]
    return value


def validate_markup(raw: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Return the markup to store (None if absent), refusing what Telegram refuses."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    markup = _drop_nones(raw)
    if "inline_keyboard" in markup:
        _validate_inline(markup["inline_keyboard"])
        return markup
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request("can't parse reply keyboard markup JSON object")
        return markup
    if markup.get("remove_keyboard") or "force_reply" in markup:
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def _validate_inline(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("can't parse inline keyboard button: InlineKeyboardMarkup must be an Array")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                raise bad_request("can't parse inline keyboard button: Text is empty")
            actions = [key for key in _BUTTON_ACTIONS if key in button]
            if not actions:
                raise bad_request("text buttons are unallowed in the inline keyboard")
            if "callback_data" in button:
                data = button["callback_data"]
                size = len(str(data).encode("utf-8"))
                if not isinstance(data, str) or not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = str(button["url"])
                if not url.startswith(("http://", "https://", "tg://")):
                    raise bad_request("BUTTON_URL_INVALID")


def inline_buttons(markup: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not markup or "inline_keyboard" not in markup:
        return []
    return [button for row in markup["inline_keyboard"] for button in row]
