"""Our Remnawave contract fixtures agree with the panel's full v3.2.3 spec.

The spec is AGPL and lives outside the repo (``<repo>/../shared/specs``); the
fixtures in ``contracts/remnawave/v3.2.3`` are our own. This test is what
keeps them honest: a fixture that asks for a field the panel does not
guarantee, sends a field it does not know, or disagrees on a type fails here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.contracts.spec_compare import compare, load, spec_schema

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "contracts" / "remnawave" / "v3.2.3"
SPEC_PATH = REPO.parent / "shared" / "specs" / "remnawave-openapi.json"


@pytest.fixture(scope="module")
def spec() -> dict:
    if not SPEC_PATH.exists():
        pytest.skip(f"full Remnawave spec not available at {SPEC_PATH} (shared folder absent)")
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def test_comparison_catches_a_drifted_fixture(spec):
    """The checker itself must be able to fail: break a fixture in each way it guards against."""
    user = load(FIXTURES / "user.response.json")
    op = next(o for o in user["x-operations"] if o["method"] == "get")
    theirs = spec_schema(spec, op)

    relies_on_missing = copy.deepcopy(user)
    relies_on_missing["properties"]["response"]["properties"]["uuid"] = {"type": "string"}
    assert any("uuid" in p for p in compare(relies_on_missing, theirs, "response", "$", spec))

    wrong_type = copy.deepcopy(user)
    wrong_type["properties"]["response"]["properties"]["id"] = {"type": "string"}
    assert compare(wrong_type, theirs, "response", "$", spec)

    missing_enum_value = copy.deepcopy(user)
    missing_enum_value["properties"]["response"]["properties"]["status"]["enum"] = ["ACTIVE", "DISABLED"]
    assert compare(missing_enum_value, theirs, "response", "$", spec)

    create = load(FIXTURES / "create-user.request.json")
    create_op = create["x-operations"][0]
    create_theirs = spec_schema(spec, create_op)
    forgets_required = copy.deepcopy(create)
    forgets_required["required"] = ["username"]
    assert any("expireAt" in p for p in compare(forgets_required, create_theirs, "request", "$", spec))

    looser = copy.deepcopy(create)
    looser["properties"]["username"]["maxLength"] = 64
    assert compare(looser, create_theirs, "request", "$", spec)
