"""Message text as Telegram stores it: parse_mode=HTML parsed into plain text + entities, trimmed,
measured in UTF-16 code units (the unit of entity offsets and of the 4096 limit).

Being as strict as Telegram here is the point: an unescaped "<" in a user's name or an unclosed
tag is a production outage that only shows up as "can't parse entities" from the real API.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import bad_request

MAX_TEXT = 4096
MAX_CAPTION = 1024

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_SUPPORTED = set(_SIMPLE_TAGS) | {"a", "span", "tg-emoji"}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]+));")
_ATTR_RE = re.compile(r"""\s*([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _parse_error(detail: str):
    return bad_request(f"can't parse entities: {detail}")


def _decode_entities(value: str) -> str:
    def repl(match: re.Match[str]) -> str:
        if match.group(1) or match.group(2):
            code = int(match.group(1)) if match.group(1) else int(match.group(2), 16)
            try:
                return chr(code)
            except (ValueError, OverflowError):
                return match.group(0)
        # Only four named entities exist in Telegram HTML; others stay as literal text.
        return _NAMED.get(match.group(3).lower(), match.group(0))

    return _ENTITY_RE.sub(repl, value)


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML; raise 400 with Telegram's wording on what it refuses."""
    out: list[str] = []
    pos16 = 0
    stack: list[tuple[str, int, dict[str, str], int]] = []  # tag, start offset, attrs, byte offset
    entities: list[dict[str, Any]] = []
    i, n = 0, len(source)

    def byte_offset(index: int) -> int:
        return len(source[:index].encode("utf-8"))

    def emit(text: str) -> None:
        nonlocal pos16
        out.append(text)
        pos16 += utf16_len(text)

    while i < n:
        ch = source[i]
        if ch == "&":
            match = _ENTITY_RE.match(source, i)
            if match:
                emit(_decode_entities(match.group(0)))
                i = match.end()
            else:
                emit("&")
                i += 1
            continue
        if ch != "<":
            j = i
            while j < n and source[j] not in "<&":
                j += 1
            emit(source[i:j])
            i = j
            continue
        at = byte_offset(i)
        if source.startswith("</", i):
            close = source.find(">", i)
            if close == -1:
                raise _parse_error(f"Unclosed end tag at byte offset {at}")
            name = source[i + 2 : close].strip().lower()
            if not stack:
                raise _parse_error(f"Unexpected end tag at byte offset {at}")
            tag, start, attrs, _ = stack.pop()
            if name and name != tag:
                raise _parse_error(
                    f'Unmatched end tag at byte offset {at}, expected "</{tag}>", found "</{name}>"'
                )
            _close_entity(tag, start, pos16, attrs, stack, entities)
            i = close + 1
            continue
        j = i + 1
        while j < n and (source[j].isascii() and (source[j].isalnum() or source[j] == "-")):
            j += 1
        name = source[i + 1 : j].lower()
        if j >= n:
            raise _parse_error(f"Unclosed start tag at byte offset {at}")
        if name not in _SUPPORTED:
            raise _parse_error(f'Unsupported start tag "{name}" at byte offset {at}')
        close = source.find(">", j)
        if close == -1:
            raise _parse_error(f"Unclosed start tag at byte offset {at}")
        attrs = _parse_attrs(source[j:close].rstrip("/"))
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _parse_error(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
        if name == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise _parse_error(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {at}')
        stack.append((name, pos16, attrs, at))
        i = close + 1

    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _parse_attrs(raw: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _ATTR_RE.finditer(raw):
        value = match.group(2) or ""
        if value[:1] in "\"'":
            value = value[1:-1]
        attrs[match.group(1).lower()] = _decode_entities(value)
    return attrs


def _close_entity(
    tag: str,
    start: int,
    end: int,
    attrs: dict[str, str],
    stack: list[tuple[str, int, dict[str, str], int]],
    entities: list[dict[str, Any]],
) -> None:
    if end <= start:
        return  # Telegram drops empty entities silently.
    entity: dict[str, Any] = {"offset": start, "length": end - start}
    if tag == "a":
        href = attrs.get("href", "")
        if not href:
            return
        entity.update(type="text_link", url=href)
    elif tag == "tg-emoji":
        entity.update(type="custom_emoji", custom_emoji_id=attrs["emoji-id"])
    elif tag == "span":
        entity["type"] = "spoiler"
    elif tag == "code" and stack and stack[-1][0] == "pre":
        # <pre><code class="language-x"> is one pre entity with a language, not two entities.
        language = attrs.get("class", "")
        if language.startswith("language-"):
            parent = stack[-1]
            parent[2]["language"] = language[len("language-") :]
            return
        entity["type"] = "code"
    elif tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    else:
        entity["type"] = _SIMPLE_TAGS[tag]
        if tag == "pre" and attrs.get("language"):
            entity["language"] = attrs["language"]
    entities.append(entity)


def trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading/trailing whitespace as Telegram does, keeping entities aligned."""
    stripped_left = text.lstrip()
    shift = utf16_len(text) - utf16_len(stripped_left)
    result = stripped_left.rstrip()
    limit = utf16_len(result)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return result, kept


def bot_command_entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram adds to a user's message that starts with a /command."""
    match = re.match(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?", text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}]


def render_text(
    raw: str | None, parse_mode: str | None, *, limit: int, empty_ok: bool, kind: str = "message text"
) -> tuple[str, list[dict[str, Any]]]:
    """Turn a text/caption parameter into stored (plain text, entities), enforcing Telegram's limits."""
    raw = raw or ""
    mode = (parse_mode or "").strip()
    if mode.lower() == "html":
        plain, entities = parse_html(raw)
    elif mode.lower() in ("", "markdown", "markdownv2"):
        # Markdown is stored verbatim: the stand-in only checks the formats ATCS uses.
        plain, entities = raw, []
    else:
        raise bad_request("unsupported parse_mode")
    plain, entities = trim(plain, entities)
    if not plain and not empty_ok:
        raise bad_request(f"{kind} is empty")
    if utf16_len(plain) > limit:
        raise bad_request("message is too long" if kind == "message text" else "message caption is too long")
    return plain, entities
