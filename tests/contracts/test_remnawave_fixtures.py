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
from jsonschema import Draft202012Validator, FormatChecker
from openapi_schema_validator import OAS30Validator

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "contracts" / "remnawave" / "v3.2.3"
SPEC_PATH = REPO.parent / "shared" / "specs" / "remnawave-openapi.json"
FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))


@pytest.fixture(scope="module")
def spec() -> dict:
    if not SPEC_PATH.exists():
        pytest.skip(f"full Remnawave spec not available at {SPEC_PATH} (shared folder absent)")
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# ---- reading the spec -----------------------------------------------------------
def resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def spec_schema(spec: dict, op: dict) -> dict | None:
    operation = spec["paths"][op["path"]][op["method"]]
    if op["part"] == "request":
        body = operation["requestBody"]
    else:
        body = operation["responses"][op["status"]]
    content = body.get("content")
    if not content:
        return None
    return resolve(spec, content["application/json"]["schema"])


# ---- comparing a fixture schema with the spec schema ------------------------------
NUMERIC = {"number", "integer"}


def fixture_types(schema: dict) -> tuple[set[str], bool]:
    types = schema.get("type", [])
    types = {types} if isinstance(types, str) else set(types)
    return types - {"null"}, "null" in types


def types_compatible(ours: set[str], theirs: set[str], part: str) -> bool:
    if part == "request":
        # We may send something narrower: an integer is a number.
        return all(t in theirs or (t == "integer" and "number" in theirs) for t in ours)
    # We must accept everything the panel may send.
    return all(t in ours or (t == "integer" and "number" in ours) for t in theirs)


def compare(ours: dict, theirs: dict, part: str, where: str, spec: dict) -> list[str]:
    theirs = resolve(spec, theirs)
    problems: list[str] = []
    our_types, our_null = fixture_types(ours)
    their_type = theirs.get("type")
    their_types = {their_type} if their_type else set()
    their_null = bool(theirs.get("nullable"))
    if their_types and not types_compatible(our_types, their_types, part):
        problems.append(f"{where}: type {sorted(our_types)} vs spec {sorted(their_types)}")
    if part == "request" and our_null and not their_null:
        problems.append(f"{where}: we may send null, the spec does not allow it")
    if part == "response" and their_null and not our_null:
        problems.append(f"{where}: the panel may send null, the fixture does not accept it")

    if "enum" in theirs:
        if part == "request" and not set(ours.get("enum", [None])) <= set(theirs["enum"]):
            problems.append(f"{where}: enum {ours.get('enum')} not within spec {theirs['enum']}")
        if part == "response" and "enum" in ours and not set(theirs["enum"]) <= set(ours["enum"]):
            problems.append(f"{where}: spec values {sorted(set(theirs['enum']) - set(ours['enum']))} not accepted")
    if "format" in ours and "format" in theirs and ours["format"] != theirs["format"]:
        problems.append(f"{where}: format {ours['format']} vs spec {theirs['format']}")

    if part == "request":
        if "format" in theirs and ours.get("format") != theirs["format"]:
            problems.append(f"{where}: spec format {theirs['format']} not enforced by the fixture")
        for bound, stricter in (("minLength", max), ("minimum", max), ("maxLength", min), ("maximum", min)):
            if bound in theirs and (bound not in ours or stricter(ours[bound], theirs[bound]) != ours[bound]):
                problems.append(f"{where}: {bound} must be at least as strict as the spec's {theirs[bound]}")
        if "pattern" in theirs and "format" not in theirs and ours.get("pattern") != theirs["pattern"]:
            problems.append(f"{where}: pattern differs from the spec's {theirs['pattern']!r}")

    if "properties" in ours:
        their_props = theirs.get("properties", {})
        for name, sub in ours["properties"].items():
            if name not in their_props:
                problems.append(f"{where}.{name}: not in the spec")
                continue
            problems += compare(sub, their_props[name], part, f"{where}.{name}", spec)
        our_req, their_req = set(ours.get("required", [])), set(theirs.get("required", []))
        if part == "request" and not their_req <= our_req:
            problems.append(f"{where}: spec requires {sorted(their_req - our_req)}, the fixture does not")
        if part == "response" and not our_req <= their_req:
            problems.append(f"{where}: fixture relies on {sorted(our_req - their_req)}, not guaranteed by the spec")
        if not set(ours.get("required", [])) <= set(ours["properties"]):
            problems.append(f"{where}: a required field has no schema in the fixture")
    if "items" in ours:
        if "items" not in theirs:
            problems.append(f"{where}[]: the spec has no items schema")
        else:
            problems += compare(ours["items"], theirs["items"], part, f"{where}[]", spec)
    return problems


def alternatives(schema: dict, spec: dict) -> list[dict]:
    return [resolve(spec, s) for s in schema["oneOf"]] if "oneOf" in schema else [schema]


def oas_validator(spec: dict, schema: dict) -> OAS30Validator:
    rooted = dict(copy.deepcopy(schema), components=spec["components"])
    return OAS30Validator(rooted, format_checker=FormatChecker())


# ---- tests -------------------------------------------------------------------------
def test_fixtures_exist_and_are_valid_json_schemas():
    assert FIXTURE_FILES, f"no fixtures in {FIXTURES}"
    for path in FIXTURE_FILES:
        schema = load(path)
        Draft202012Validator.check_schema(schema)
        assert schema.get("x-operations"), f"{path.name} names no operation"


def test_fixtures_are_for_the_spec_version_they_claim(spec):
    assert spec["info"]["version"] == FIXTURES.name.lstrip("v")
    assert FIXTURES.name.lstrip("v") in (FIXTURES / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_matches_spec_operation(spec, path):
    fixture = load(path)
    for op in fixture["x-operations"]:
        label = f"{path.name} ~ {op['method'].upper()} {op['path']} {op.get('status', '')} {op['part']}"
        assert op["path"] in spec["paths"], f"{label}: path not in spec"
        assert op["method"] in spec["paths"][op["path"]], f"{label}: method not in spec"
        if op["part"] == "response":
            assert op["status"] in spec["paths"][op["path"]][op["method"]]["responses"], f"{label}: status not in spec"
        theirs = spec_schema(spec, op)
        if fixture.get("x-no-body"):
            assert theirs is None, f"{label}: the spec documents a body"
            continue
        assert theirs is not None, f"{label}: the spec documents no body"
        results = [compare(fixture, alt, op["part"], "$", spec) for alt in alternatives(theirs, spec)]
        assert any(not r for r in results), f"{label}:\n" + "\n".join(min(results, key=len))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_examples_validate_against_fixture_and_spec(spec, path):
    fixture = load(path)
    if fixture.get("x-no-body"):
        return
    examples = fixture.get("examples", [])
    assert examples, f"{path.name} has no examples"
    ours = Draft202012Validator(fixture, format_checker=FormatChecker())
    for example in examples:
        ours.validate(example)
        for op in fixture["x-operations"]:
            theirs = spec_schema(spec, op)
            errors = []
            for alt in alternatives(theirs, spec):
                errors = list(oas_validator(spec, alt).iter_errors(example))
                if not errors:
                    break
            assert not errors, f"{path.name} example rejected by spec for {op}: {errors[0].message}"


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
