"""Our 3x-ui contract fixtures agree with the panel's full v3.6.0 spec.

The spec is GPL-3.0 and lives outside the repo (``<repo>/../shared/specs``); the fixtures in
``contracts/3x-ui/v3.6.0`` are our own. This test keeps them honest (see
``spec_compare.compare``; where the spec leaves a body open, a fixture names the component with
``x-spec-ref`` or uses only the names of the spec's example); it is skipped where the spec is absent.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from tests.contracts.spec_compare import (
    check_examples, check_fixture_files, check_fixture_matches_spec, compare, documented_example, load, spec_schema,
)

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "contracts" / "3x-ui" / "v3.6.0"
SPEC_PATH = REPO.parent / "shared" / "specs" / "3x-ui-openapi.json"
FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))
RELEASE = "v3.6.0"   # the spec's info.version says "3.x"; the release tag is in its SOURCES.md entry


@pytest.fixture(scope="module")
def spec() -> dict:
    if not SPEC_PATH.exists():
        pytest.skip(f"full 3x-ui spec not available at {SPEC_PATH} (shared folder absent)")
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def test_fixtures_exist_and_are_valid_json_schemas():
    check_fixture_files(FIXTURES, FIXTURE_FILES)


def test_fixtures_are_for_the_spec_version_they_claim(spec):
    assert FIXTURES.name == RELEASE and spec["info"]["version"] == "3.x"
    sources = (SPEC_PATH.parent / "SOURCES.md").read_text(encoding="utf-8")
    assert "3x-ui-openapi.json" in sources and RELEASE in sources
    assert RELEASE.lstrip("v") in (FIXTURES / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_matches_spec_operation(spec, path):
    check_fixture_matches_spec(spec, path)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_examples_validate_against_fixture_and_spec(spec, path):
    check_examples(spec, path)


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_what_the_spec_shows_the_panel_sending_is_accepted(spec, path):
    fixture = load(path)
    refusal = fixture["properties"].get("success", {}).get("const") is False
    for op in fixture["x-operations"]:
        example = documented_example(spec, op) if op["part"] == "response" else None
        if example is not None and (example.get("success") is False) == refusal:
            Draft202012Validator(fixture, format_checker=FormatChecker()).validate(example)


def test_comparison_catches_a_drifted_fixture(spec):
    """The checker itself must be able to fail, in the open places 3x-ui's spec has too."""
    add = load(FIXTURES / "add-client.request.json")
    op = add["x-operations"][0]
    theirs, example = spec_schema(spec, op), documented_example(spec, op)
    assert not compare(add, theirs, "request", "$", spec, example)

    unknown_field = copy.deepcopy(add)
    unknown_field["properties"]["client"]["properties"]["uuid"] = {"type": "string"}
    assert any("uuid" in p for p in compare(unknown_field, theirs, "request", "$", spec, example))

    undocumented = copy.deepcopy(add)
    undocumented["properties"]["inbounds"] = undocumented["properties"].pop("inboundIds")
    assert any("inbounds" in p for p in compare(undocumented, theirs, "request", "$", spec, example))

    forgets_required = copy.deepcopy(add)
    forgets_required["properties"]["client"]["required"].remove("subId")
    assert any("subId" in p for p in compare(forgets_required, theirs, "request", "$", spec, example))

    client = load(FIXTURES / "client.response.json")
    get_op = client["x-operations"][0]
    relies_on_missing = copy.deepcopy(client)
    relies_on_missing["properties"]["obj"]["properties"]["client"]["properties"]["vlessId"] = {"type": "string"}
    relies_on_missing["properties"]["obj"]["properties"]["client"]["required"].append("vlessId")
    assert compare(relies_on_missing, spec_schema(spec, get_op), "response", "$", spec)
