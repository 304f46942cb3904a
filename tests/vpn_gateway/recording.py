"""Recording every HTTP request a panel client sends, as it goes on the wire (aiohttp tracing),
and checking one against an OpenAPI document or a JSON-schema fixture."""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from openapi_schema_validator import OAS30Validator
from yarl import URL


@dataclass
class Sent:
    method: str
    url: URL
    headers: dict[str, str]
    body: bytearray = field(default_factory=bytearray)

    def json(self) -> Any:
        return orjson.loads(bytes(self.body)) if self.body else None


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Sent] = []

    def trace_config(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()

        async def started(_session, ctx, params: aiohttp.TraceRequestStartParams) -> None:
            ctx.sent = Sent(params.method, params.url, dict(params.headers))
            self.sent.append(ctx.sent)

        async def chunk(_session, ctx, params: aiohttp.TraceRequestChunkSentParams) -> None:
            ctx.sent.body.extend(params.chunk)

        config.on_request_start.append(started)
        config.on_request_chunk_sent.append(chunk)
        return config


def template_for(templates: list[str], path: str) -> str | None:
    """The template (`/access-keys/{id}`) a concrete path matches; literal segments win."""
    matches = []
    for template in templates:
        parts = re.split(r"(\{[^}]+\})", template)
        pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        if re.fullmatch(pattern, path):
            matches.append(template)
    return min(matches, key=lambda t: t.count("{")) if matches else None


def resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def unknown_fields(document: dict, schema: dict, value: Any, where: str = "$") -> list[str]:
    """Fields we send that the schema does not name: most panel schemas leave
    additionalProperties open, and a field the panel ignores is a bug in our client."""
    schema = resolve(document, schema)
    problems: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        for name, sub in value.items():
            if name not in schema["properties"]:
                problems.append(f"{where}.{name}")
            else:
                problems += unknown_fields(document, schema["properties"][name], sub, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += unknown_fields(document, schema["items"], item, f"{where}[{index}]")
    return problems


def shape(value: Any) -> Any:
    """The field structure of a JSON value, ignoring the values themselves."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__


def documented_shapes(media: dict) -> list[Any]:
    """Shapes of the examples an operation documents (Outline writes them as JSON strings)."""
    shapes = []
    for example in (media.get("examples") or {}).values():
        value = example.get("value")
        if isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
        shapes.append(shape(value))
    return shapes


def validate_oas_body(document: dict, media: dict, body: Any) -> None:
    """The body validates against the media type's schema, and every field in it is named by
    that schema or has the very structure of one of the operation's documented examples."""
    schema = media["schema"]
    rooted = dict(copy.deepcopy(resolve(document, schema)), components=document.get("components", {}))
    OAS30Validator(rooted).validate(body)
    problems = unknown_fields(document, schema, body)
    if problems and shape(body) in documented_shapes(media):
        problems = []
    assert not problems, f"fields not in the spec: {problems}"
