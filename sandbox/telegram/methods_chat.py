"""Bot API methods for identity, updates, messages, callback answers, files, commands, webhook."""

from __future__ import annotations

import json
import mimetypes
import struct
import time
from typing import Any

from .errors import ApiError, bad_request, conflict
from .formatting import MAX_CAPTION, MAX_TEXT, render_text
from .markup import validate_markup
from .models import FileRecord, MessageRecord
from .params import Params, Upload
from .registry import ensure_can_send, method
from .state import World

TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
MAX_PHOTO_BYTES = 10 * 1024 * 1024


def chat_id_param(params: Params, name: str = "chat_id") -> int:
    """Private chats are addressed by numeric id; an @username never names one."""
    value = params.string(name)
    if value is None or value == "":
        raise bad_request(f"{name} is empty")
    try:
        return int(value)
    except ValueError:
        raise bad_request("chat not found") from None


# --- identity and updates ---------------------------------------------------------------------


@method("getMe")
async def get_me(world: World, params: Params) -> Any:
    return world.bot_user


@method("getUpdates")
async def get_updates(world: World, params: Params) -> Any:
    if world.webhook_url:
        raise conflict("can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
    offset = params.integer("offset", default=0)
    limit = min(max(params.integer("limit", default=100), 1), 100)
    timeout = max(params.integer("timeout", default=0), 0)
    allowed = params.obj("allowed_updates", what="allowed_updates JSON array")
    if allowed is not None:
        # An empty list means "Telegram's default set", not "nothing".
        world.allowed_updates = frozenset(allowed) if allowed else None
    world.confirm(offset)
    # A newer getUpdates ends an older one still waiting, exactly as two bot instances would see.
    world.poll_generation += 1
    generation = world.poll_generation
    world.wakeup.fire()

    def probe() -> Any:
        if world.poll_generation != generation:
            return "conflict"
        if world.updates or world.closing:
            return world.updates[:limit]
        return None

    result = await world.wakeup.wait_for(probe, timeout)
    if result == "conflict":
        raise conflict("terminated by other getUpdates request; make sure that only one bot instance is running")
    return result or []


@method("setWebhook")
async def set_webhook(world: World, params: Params) -> Any:
    world.webhook_url = params.string("url", default="") or ""
    if params.flag("drop_pending_updates"):
        world.updates.clear()
    return True


@method("deleteWebhook")
async def delete_webhook(world: World, params: Params) -> Any:
    world.webhook_url = ""
    if params.flag("drop_pending_updates"):
        world.updates.clear()
    return True


@method("getWebhookInfo")
async def get_webhook_info(world: World, params: Params) -> Any:
    return {"url": world.webhook_url, "has_custom_certificate": False, "pending_update_count": len(world.updates)}


# --- messages ---------------------------------------------------------------------------------


def _text_fields(params: Params) -> dict[str, Any]:
    raw = params.string("text")
    parse_mode = params.string("parse_mode")
    text, entities = render_text(raw, parse_mode, limit=MAX_TEXT, empty_ok=False)
    if not parse_mode and params.has("entities"):
        entities = params.obj("entities", what="entities JSON object") or []
    return {"text": text, "entities": entities, "html": raw if parse_mode else None}


@method("sendMessage")
async def send_message(world: World, params: Params) -> Any:
    user = world.chat_for_bot(chat_id_param(params))
    fields = _text_fields(params)
    markup = validate_markup(params.obj("reply_markup", what="reply keyboard markup JSON object"))
    ensure_can_send(world, "sendMessage", user, paid=params.flag("allow_paid_broadcast"))
    message = world.add_message(user.id, from_bot=True, reply_markup=markup, **fields)
    return world.message_api(message)


def _message_to_edit(world: World, params: Params) -> MessageRecord:
    if params.has("inline_message_id"):
        raise bad_request("MESSAGE_ID_INVALID")
    user = world.chat_for_bot(chat_id_param(params))
    message = world.find_message(user.id, params.integer("message_id"))
    if message is None:
        raise bad_request("message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")
    return message


def _current_inline(message: MessageRecord) -> dict[str, Any] | None:
    return message.reply_markup if message.has_inline_keyboard() else None


def _apply_edit(world: World, message: MessageRecord, **changes: Any) -> Any:
    current = {key: getattr(message, key) for key in changes if key != "reply_markup"}
    new = {key: value for key, value in changes.items() if key != "reply_markup"}
    new.pop("html", None)
    current.pop("html", None)
    if new == current and changes["reply_markup"] == _current_inline(message):
        raise bad_request(NOT_MODIFIED)
    for key, value in changes.items():
        setattr(message, key, value)
    message.edit_date = int(time.time())
    message.edits += 1
    world.touch(message.chat_id)
    return world.message_api(message)


def _edit_markup(params: Params) -> dict[str, Any] | None:
    # Omitting reply_markup in an edit removes the inline keyboard: that is how Telegram behaves.
    return validate_markup(params.obj("reply_markup", what="reply keyboard markup JSON object"), inline_only=True)


@method("editMessageText")
async def edit_message_text(world: World, params: Params) -> Any:
    message = _message_to_edit(world, params)
    if message.text is None:
        raise bad_request("there is no text in the message to edit")
    fields = _text_fields(params)
    return _apply_edit(world, message, reply_markup=_edit_markup(params), **fields)


@method("editMessageCaption")
async def edit_message_caption(world: World, params: Params) -> Any:
    message = _message_to_edit(world, params)
    if message.document is None and message.photo is None:
        raise bad_request("there is no caption in the message to edit")
    caption, entities = render_text(
        params.string("caption"), params.string("parse_mode"), limit=MAX_CAPTION, empty_ok=True, kind="message caption"
    )
    return _apply_edit(
        world, message, caption=caption or None, caption_entities=entities, reply_markup=_edit_markup(params)
    )


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(world: World, params: Params) -> Any:
    message = _message_to_edit(world, params)
    return _apply_edit(world, message, reply_markup=_edit_markup(params))


@method("deleteMessage")
async def delete_message(world: World, params: Params) -> Any:
    user = world.chat_for_bot(chat_id_param(params))
    message = world.find_message(user.id, params.integer("message_id", required=True))
    if message is None:
        raise bad_request("message to delete not found")
    message.deleted = True
    world.touch(user.id)
    return True


@method("deleteMessages")
async def delete_messages(world: World, params: Params) -> Any:
    user = world.chat_for_bot(chat_id_param(params))
    ids = params.obj("message_ids", what="message_ids JSON array")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
        raise bad_request("message_ids must contain 1-100 message identifiers")
    for message_id in ids:
        message = world.find_message(user.id, int(message_id))
        if message is not None:
            message.deleted = True
    world.touch(user.id)
    return True


@method("sendChatAction")
async def send_chat_action(world: World, params: Params) -> Any:
    user = world.chat_for_bot(chat_id_param(params))
    params.string("action", required=True)
    ensure_can_send(world, "sendChatAction", user)
    return True


# --- callback queries -------------------------------------------------------------------------


@method("answerCallbackQuery")
async def answer_callback_query(world: World, params: Params) -> Any:
    query_id = params.string("callback_query_id", required=True)
    text = params.string("text")
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    record = world.callbacks.get(query_id)
    if record is None:
        raise bad_request(TOO_OLD)
    latency = time.monotonic() - record.created_mono
    accepted = not any(a["accepted"] for a in record.answers) and latency <= world.limits.callback_answer_window
    record.answers.append(
        {
            "time": time.time(),
            "latency": latency,
            "text": text,
            "show_alert": params.flag("show_alert"),
            "url": params.string("url"),
            "accepted": accepted,
        }
    )
    world.wakeup.fire()
    if not accepted:
        raise bad_request(TOO_OLD)
    return True


# --- files ------------------------------------------------------------------------------------


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF or JPEG, which is what Telegram needs to accept a photo."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return (512, 512)
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            length = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return (width, height)
            i += 2 + length
    return None


def _store_upload(world: World, upload: Upload, kind: str) -> FileRecord:
    if not upload.data:
        raise bad_request("file must be non-empty")
    limit = MAX_PHOTO_BYTES if kind == "photo" else MAX_DOCUMENT_BYTES
    if len(upload.data) > limit:
        raise ApiError(413, "Request Entity Too Large")
    width = height = 0
    if kind == "photo":
        size = _image_size(upload.data)
        if size is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
        width, height = size
    mime = None
    if upload.filename:
        mime = mimetypes.guess_type(upload.filename)[0]
    mime = mime or upload.content_type or "application/octet-stream"
    file_id, unique_id = world.new_file_id(kind)
    record = FileRecord(file_id, unique_id, kind, upload.filename, mime, upload.data, width, height)
    return world.add_file(record)


def _file_param(world: World, params: Params, kind: str) -> FileRecord:
    source = params.upload(kind)
    if source is None:
        raise bad_request(f"there is no {kind} in the request")
    if isinstance(source, Upload):
        return _store_upload(world, source, kind)
    existing = world.files.get(source)
    if existing is not None:
        return existing
    if source.startswith(("http://", "https://")):
        # The stand-in is offline; Telegram would fetch the URL.
        raise bad_request("failed to get HTTP URL content")
    raise bad_request("wrong file identifier/HTTP URL specified")


async def _send_file(world: World, params: Params, kind: str, method_name: str) -> Any:
    user = world.chat_for_bot(chat_id_param(params))
    record = _file_param(world, params, kind)
    caption, entities = render_text(
        params.string("caption"), params.string("parse_mode"), limit=MAX_CAPTION, empty_ok=True, kind="message caption"
    )
    markup = validate_markup(params.obj("reply_markup", what="reply keyboard markup JSON object"))
    ensure_can_send(world, method_name, user)
    message = world.add_message(
        user.id, from_bot=True, caption=caption or None, caption_entities=entities, reply_markup=markup, **{kind: record}
    )
    return world.message_api(message)


@method("sendDocument")
async def send_document(world: World, params: Params) -> Any:
    return await _send_file(world, params, "document", "sendDocument")


@method("sendPhoto")
async def send_photo(world: World, params: Params) -> Any:
    return await _send_file(world, params, "photo", "sendPhoto")


@method("getFile")
async def get_file(world: World, params: Params) -> Any:
    record = world.files.get(params.string("file_id", required=True) or "")
    if record is None:
        raise bad_request("invalid file_id")
    return record.file_api()


# --- commands and profile ---------------------------------------------------------------------


def _commands_key(params: Params) -> str:
    scope = params.obj("scope", what="scope JSON object") or {"type": "default"}
    return json.dumps(scope, sort_keys=True) + "|" + (params.string("language_code") or "")


@method("setMyCommands")
async def set_my_commands(world: World, params: Params) -> Any:
    commands = params.obj("commands", what="commands JSON array")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("commands must be an array of at most 100 BotCommand")
    cleaned = []
    for command in commands:
        name = str(command.get("command", "")) if isinstance(command, dict) else ""
        description = str(command.get("description", "")) if isinstance(command, dict) else ""
        if not (1 <= len(name) <= 32 and all(c.islower() or c.isdigit() or c == "_" for c in name)):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        cleaned.append({"command": name, "description": description})
    world.commands[_commands_key(params)] = cleaned
    return True


@method("getMyCommands")
async def get_my_commands(world: World, params: Params) -> Any:
    return world.commands.get(_commands_key(params), [])


@method("deleteMyCommands")
async def delete_my_commands(world: World, params: Params) -> Any:
    world.commands.pop(_commands_key(params), None)
    return True


async def _accept(world: World, params: Params) -> Any:
    return True


# Profile settings a bot may push at start-up; the stand-in accepts and forgets them.
for _name in ("setMyDescription", "setMyShortDescription", "setMyName", "setChatMenuButton", "logOut", "close"):
    method(_name)(_accept)
