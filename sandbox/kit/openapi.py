"""Check HTTP answers against an OpenAPI 3.0 document.

The Outline stand-in is tested against the upstream spec copied to
``contracts/outline/api.yml``, and the VPN gateway's own tests can use the
same helper on what its client receives. A status the spec does not list
for the operation is an error too: a stand-in must not invent answers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

import yaml
from openapi_schema_validator import OAS30Validator

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = REPO_ROOT / "contracts"


class UndocumentedResponse(LookupError):
    pass


class OpenApiSpec:
    def __init__(self, document: dict) -> None:
        self.document = document
        self._templates = [(self._compile(t), t) for t in document.get("paths", {})]

    @classmethod
    def from_file(cls, path: Path | str) -> "OpenApiSpec":
        text = Path(path).read_text(encoding="utf-8")
        document = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        return cls(document)

    @staticmethod
    def _compile(template: str) -> re.Pattern:
        parts = re.split(r"(\{[^}]+\})", template)
        pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        return re.compile(f"^{pattern}$")

    def template_for(self, path: str) -> str:
        """Map a concrete path (``/access-keys/7``) to its spec template (``/access-keys/{id}``).
        Literal templates win over parameterised ones, as in OpenAPI routing."""
        matches = [t for rx, t in self._templates if rx.match(path)]
        if not matches:
            raise UndocumentedResponse(f"no path in the spec matches {path}")
        return min(matches, key=lambda t: t.count("{"))

    def operation(self, method: str, path: str) -> dict:
        template = self.template_for(path)
        op = self.document["paths"][template].get(method.lower())
        if op is None:
            raise UndocumentedResponse(f"{method.upper()} {template} is not in the spec")
        return op

    def response_schema(self, method: str, path: str, status: int) -> Optional[dict]:
        """The JSON schema for that answer, or None when the spec documents the
        status without a body (e.g. 204). Raises UndocumentedResponse otherwise."""
        op = self.operation(method, path)
        responses = op.get("responses", {})
        response = responses.get(str(status)) or responses.get("default")
        if response is None:
            raise UndocumentedResponse(
                f"{method.upper()} {path} answered {status}; the spec lists {sorted(responses)}"
            )
        content = response.get("content")
        if not content:
            return None
        media = content.get("application/json") or next(iter(content.values()))
        return media.get("schema")

    def validate_response(self, method: str, path: str, status: int, body: Any) -> None:
        """Raise if ``body`` (parsed JSON, or None for an empty body) is not what
        the spec promises for ``status``."""
        schema = self.response_schema(method, path, status)
        if schema is None:
            # A documented error without a schema may carry any error body;
            # a documented success without content (204) must be empty.
            if status < 400 and body not in (None, b"", ""):
                raise UndocumentedResponse(
                    f"{method.upper()} {path} {status} must have no body, got {body!r}"
                )
            return
        # Resolve "#/components/..." references against the whole document.
        rooted = dict(schema, components=self.document.get("components", {}))
        OAS30Validator(rooted).validate(body)
