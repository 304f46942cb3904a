"""Bot API parameters from any of the encodings Telegram accepts.

The query string, a JSON body, application/x-www-form-urlencoded and multipart/form-data all
work. In the form encodings every value is a string and nested objects (reply_markup, prices,
commands, ...) arrive as JSON text, so getters coerce the way Telegram does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .errors import bad_request


@dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes


class Params:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    @classmethod
    async def from_request(cls, request: web.Request) -> Params:
        values: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.body_exists:
            content_type = request.content_type
            if content_type == "application/json":
                try:
                    body = json.loads(await request.read() or b"{}")
                except ValueError:
                    raise bad_request("can't parse JSON request body") from None
                if not isinstance(body, dict):
                    raise bad_request("request body must be a JSON object")
                values.update(body)
            elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        values[key] = Upload(value.filename, value.content_type, value.file.read())
                    else:
                        values[key] = value
        return cls(values)

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def string(self, name: str, *, required: bool = False, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None or isinstance(value, Upload):
            if required:
                raise bad_request(f"{name} is empty")
            return default
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def integer(self, name: str, *, required: bool = False, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(f"{name} is empty")
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad_request(f'field "{name}" must be of type Integer') from None

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in ("true", "1", "yes", "on")

    def obj(self, name: str, *, what: str = "JSON object") -> Any:
        """A nested object: already decoded in a JSON body, JSON text in the form encodings."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, (dict, list)):
            return value
        try:
            return json.loads(str(value))
        except ValueError:
            raise bad_request(f"can't parse {what}") from None

    def upload(self, name: str) -> Upload | str | None:
        """A file parameter: an uploaded part, `attach://<part>`, or a string (file_id or URL)."""
        value = self.values.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            attached = self.values.get(value[len("attach://") :])
            if not isinstance(attached, Upload):
                raise bad_request("wrong file identifier/HTTP URL specified")
            return attached
        if value is None or isinstance(value, Upload):
            return value
        return str(value)

    def loggable(self) -> dict[str, Any]:
        """Parameters for the call log: files summarised, JSON-in-a-string decoded for readability."""
        result: dict[str, Any] = {}
        for key, value in self.values.items():
            if isinstance(value, Upload):
                result[key] = {"filename": value.filename, "size": len(value.data)}
            elif isinstance(value, str) and value[:1] in "[{":
                try:
                    result[key] = json.loads(value)
                except ValueError:
                    result[key] = value
            else:
                result[key] = value
        return result
