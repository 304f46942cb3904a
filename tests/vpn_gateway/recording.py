"""Recording every HTTP request a panel client sends, as it goes on the wire (aiohttp tracing),
and checking one against an OpenAPI document or a JSON-schema fixture."""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import orjson
from openapi_schema_validator import OAS30Validator, OAS31Validator
from jsonschema import Draft202012Validator, FormatChecker
from yarl import URL

FORM = "application/x-www-form-urlencoded"


@dataclass
class Sent:
    method: str
    url: URL
    headers: dict[str, str]
    body: bytearray = field(default_factory=bytearray)

    def json(self) -> Any:
        return orjson.loads(bytes(self.body)) if self.body else None

    def media_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip()

    def parsed(self) -> Any:
        """The body as JSON, or as a dict for a urlencoded form (Marzban's login)."""
        if self.body and self.media_type() == FORM:
            return dict(parse_qsl(bytes(self.body).decode(), keep_blank_values=True))
        return self.json()


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


class Fixtures:
    """Our contract fixtures of one panel version: the operations they name, the request
    schema and the query parameters of each."""
    def __init__(self, folder: Path) -> None:
        self.operations: set[tuple[str, str]] = set()
        self.requests: dict[tuple[str, str], dict] = {}
        self.queries: dict[tuple[str, str], dict] = {}
        for path in sorted(folder.glob("*.json")):
            fixture = json.loads(path.read_text(encoding="utf-8"))
            for op in fixture.get("x-operations", []):
                key = (op["method"].upper(), op["path"])
                self.operations.add(key)
                if op["part"] == "request":
                    self.requests[key] = fixture
                if "x-query" in fixture:
                    self.queries[key] = fixture["x-query"]


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
    (OAS31Validator if str(document.get("openapi", "")).startswith("3.1") else OAS30Validator)(rooted).validate(body)
    problems = unknown_fields(document, schema, body)
    if problems and shape(body) in documented_shapes(media):
        problems = []
    assert not problems, f"fields not in the spec: {problems}"


def check_request(fix: Fixtures, spec: dict | None, sent: Sent) -> str:
    """One request as sent, against our fixtures (operation, query, body) and, where the full
    spec is at hand, against it too. Returns the path template it matched."""
    path = sent.url.raw_path
    template = template_for(sorted({p for _, p in fix.operations}), path)
    assert template is not None, f"{sent.method} {path}: no fixture names this path"
    key = (sent.method, template)
    assert key in fix.operations, f"{sent.method} {template}: no fixture names this operation"
    query = dict(sent.url.query)
    if query:
        schema = fix.queries.get(key)
        assert schema is not None, f"{sent.method} {template}: query string not in the fixtures"
        for name, raw in query.items():
            assert name in schema, f"query parameter {name} not in the fixtures"
            Draft202012Validator(schema[name]).validate(int(raw) if raw.lstrip("-").isdigit() else raw)
    body = sent.parsed()
    fixture = fix.requests.get(key)
    media = (fixture or {}).get("x-media-type", "application/json")
    if fixture is None:
        assert body is None, f"{sent.method} {template}: body sent where the fixtures have none"
    else:
        assert body is not None, f"{sent.method} {template}: the fixtures require a body"
        assert sent.media_type() == media
        Draft202012Validator(fixture, format_checker=FormatChecker()).validate(body)
    if spec is not None:
        operation = spec["paths"][template][sent.method.lower()]
        if body is not None:
            validate_oas_body(spec, operation["requestBody"]["content"][media], body)
        else:
            assert not (operation.get("requestBody") or {}).get("required"), "the spec requires a body"
    return template
