"""Our Marzban contract fixtures agree with the panel's full 0.8.4 spec.

The spec is AGPL and lives outside the repo (``<repo>/../shared/specs``); the
fixtures in ``contracts/marzban/v0.8.4`` are our own. This test keeps them
honest (see ``spec_compare.compare``); it is skipped where the spec is absent.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.contracts.spec_compare import compare, load, spec_schema

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "contracts" / "marzban" / "v0.8.4"
SPEC_PATH = REPO.parent / "shared" / "specs" / "marzban-openapi.json"


@pytest.fixture(scope="module")
def spec() -> dict:
    if not SPEC_PATH.exists():
        pytest.skip(f"full Marzban spec not available at {SPEC_PATH} (shared folder absent)")
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def test_comparison_catches_a_drifted_fixture(spec):
    """The checker itself must be able to fail, on a 3.1 spec's anyOf-null fields too."""
    user = load(FIXTURES / "user.response.json")
    op = next(o for o in user["x-operations"] if o["method"] == "get")
    theirs = spec_schema(spec, op)

    relies_on_optional = copy.deepcopy(user)
    relies_on_optional["required"].append("subscription_url")        # has a default, never required
    assert any("subscription_url" in p for p in compare(relies_on_optional, theirs, "response", "$", spec))

    refuses_null = copy.deepcopy(user)
    refuses_null["properties"]["expire"] = {"type": "integer"}       # the panel sends null for "never"
    assert any("null" in p for p in compare(refuses_null, theirs, "response", "$", spec))

    missing_enum_value = copy.deepcopy(user)
    missing_enum_value["properties"]["status"]["enum"] = ["active", "disabled"]
    assert compare(missing_enum_value, theirs, "response", "$", spec)

    create = load(FIXTURES / "create-user.request.json")
    create_theirs = spec_schema(spec, create["x-operations"][0])
    unknown_field = copy.deepcopy(create)
    unknown_field["properties"]["expireAt"] = {"type": "string"}
    assert any("expireAt" in p for p in compare(unknown_field, create_theirs, "request", "$", spec))

    nullable_limit = copy.deepcopy(create)
    nullable_limit["properties"]["data_limit"]["minimum"] = -1
    assert compare(nullable_limit, create_theirs, "request", "$", spec)
