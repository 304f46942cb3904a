"""Comparing our own contract fixtures (JSON Schema) with a panel's full OpenAPI spec, which is
not in the repo (AGPL/GPL; ``<repo>/../shared/specs``). Shared by the fixture tests of each
panel; handles OpenAPI 3.0 (``nullable``) and 3.1 (``anyOf: [X, {"type": "null"}]``) specs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from openapi_schema_validator import OAS30Validator, OAS31Validator


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# ---- reading the spec -----------------------------------------------------------
def resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return unwrap_nullable(spec, schema)


def unwrap_nullable(spec: dict, schema: dict) -> dict:
    """OpenAPI 3.1's optional field, `anyOf: [X, {"type": "null"}]`, as 3.0 writes it: X with
    `nullable: true`."""
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or len(branches) != 2:
        return schema
    others = [b for b in branches if b != {"type": "null"}]
    if len(others) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**resolve(spec, others[0]), **rest, "nullable": True}


def spec_schema(spec: dict, op: dict, media: str = "application/json") -> dict | None:
    operation = spec["paths"][op["path"]][op["method"]]
    if op["part"] == "request":
        body = operation["requestBody"]
    else:
        body = operation["responses"][op["status"]]
    content = body.get("content")
    if not content:
        return None
    return resolve(spec, content[media]["schema"])


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


def is_open(schema: dict) -> bool:
    """A spec schema that says nothing about the shape: `{}` or a bare `{"type": "object"}`
    (3x-ui's envelopes carry `obj: {}` and name the real schema only in prose)."""
    said = ("properties", "items", "$ref", "oneOf", "anyOf", "allOf", "enum", "additionalProperties")
    return schema.get("type") in (None, "object") and not any(k in schema for k in said)


def compare_open(ours: dict, part: str, where: str, spec: dict, example: Any) -> list[str]:
    """Where the spec leaves a part open, a fixture names the component it is (`x-spec-ref`), or
    (requests) uses only names the operation's own example uses; a response may be wider (its
    spec example is checked against the fixture instead)."""
    if "x-spec-ref" in ours:
        inner = {k: v for k, v in ours.items() if k != "x-spec-ref"}
        return compare(inner, {"$ref": ours["x-spec-ref"]}, part, where, spec, example)
    if part == "response":        # wider is fine; look only for components named further down
        return [problem for name, sub in (ours.get("properties") or {}).items()
                for problem in compare(sub, {}, part, f"{where}.{name}", spec)]
    problems: list[str] = []
    if "properties" in ours:
        if not isinstance(example, dict):
            return [f"{where}: open in the spec and no example names its fields (add x-spec-ref)"]
        for name, sub in ours["properties"].items():
            if name not in example:
                problems.append(f"{where}.{name}: not in the spec (nor its example)")
            else:
                problems += compare(sub, {}, part, f"{where}.{name}", spec, example[name])
    if "items" in ours:
        if not isinstance(example, list) or not example:
            problems.append(f"{where}[]: open in the spec and no example shows its items")
        else:
            problems += compare(ours["items"], {}, part, f"{where}[]", spec, example[0])
    return problems


def compare(ours: dict, theirs: dict, part: str, where: str, spec: dict, example: Any = None) -> list[str]:
    """`example`: the operation's documented example at this place, for parts the spec leaves open."""
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

    if is_open(theirs) and ("properties" in ours or "items" in ours or "x-spec-ref" in ours):
        return problems + compare_open(ours, part, where, spec, example)
    if "properties" in ours:
        their_props = theirs.get("properties", {})
        for name, sub in ours["properties"].items():
            if name not in their_props:
                problems.append(f"{where}.{name}: not in the spec")
                continue
            problems += compare(sub, their_props[name], part, f"{where}.{name}", spec,
                                example.get(name) if isinstance(example, dict) else None)
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
            problems += compare(ours["items"], theirs["items"], part, f"{where}[]", spec,
                                example[0] if isinstance(example, list) and example else None)
    return problems


def alternatives(schema: dict, spec: dict) -> list[dict]:
    return [resolve(spec, s) for s in schema["oneOf"]] if "oneOf" in schema else [schema]


def oas_validator(spec: dict, schema: dict) -> OAS30Validator | OAS31Validator:
    rooted = dict(copy.deepcopy(schema), components=spec["components"])
    validator = OAS31Validator if str(spec.get("openapi", "")).startswith("3.1") else OAS30Validator
    return validator(rooted, format_checker=FormatChecker())


# ---- the checks each panel's fixture test runs ------------------------------------------
def check_fixture_files(folder: Path, files: list[Path]) -> None:
    assert files, f"no fixtures in {folder}"
    for path in files:
        schema = load(path)
        Draft202012Validator.check_schema(schema)
        assert schema.get("x-operations"), f"{path.name} names no operation"


def check_version(spec: dict, folder: Path) -> None:
    assert spec["info"]["version"] == folder.name.lstrip("v")
    assert folder.name.lstrip("v") in (folder / "README.md").read_text(encoding="utf-8")


def check_fixture_matches_spec(spec: dict, path: Path) -> None:
    """Every operation a fixture names exists in the spec with a compatible body (a form body
    names its media type in `x-media-type`; `x-no-body` fixtures have none)."""
    fixture = load(path)
    media = fixture.get("x-media-type", "application/json")
    for op in fixture["x-operations"]:
        label = f"{path.name} ~ {op['method'].upper()} {op['path']} {op.get('status', '')} {op['part']}"
        assert op["path"] in spec["paths"], f"{label}: path not in spec"
        assert op["method"] in spec["paths"][op["path"]], f"{label}: method not in spec"
        if op["part"] == "response":
            assert op["status"] in spec["paths"][op["path"]][op["method"]]["responses"], f"{label}: status not in spec"
        theirs = spec_schema(spec, op, media)
        if fixture.get("x-no-body"):
            assert theirs is None, f"{label}: the spec documents a body"
            continue
        assert theirs is not None, f"{label}: the spec documents no body"
        example = documented_example(spec, op, media)
        results = [compare(fixture, alt, op["part"], "$", spec, example) for alt in alternatives(theirs, spec)]
        assert any(not r for r in results), f"{label}:\n" + "\n".join(min(results, key=len))


def documented_example(spec: dict, op: dict, media: str = "application/json") -> Any:
    """The example the spec gives for an operation's body (what names an open body's fields)."""
    operation = spec["paths"][op["path"]][op["method"]]
    body = operation.get("requestBody", {}) if op["part"] == "request" else operation["responses"][op["status"]]
    return ((body.get("content") or {}).get(media) or {}).get("example")


def named_components(schema: dict, value: Any):
    """(component, the value there) for every `x-spec-ref` of a fixture that a value reaches."""
    if "x-spec-ref" in schema:
        yield schema["x-spec-ref"], value
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                yield from named_components(sub, value[name])


def check_examples(spec: dict, path: Path) -> None:
    """Every example of a fixture validates against the fixture and the spec."""
    fixture = load(path)
    if fixture.get("x-no-body"):
        return
    examples = fixture.get("examples", [])
    assert examples, f"{path.name} has no examples"
    ours = Draft202012Validator(fixture, format_checker=FormatChecker())
    media = fixture.get("x-media-type", "application/json")
    for example in examples:
        ours.validate(example)
        for op in fixture["x-operations"]:
            theirs = spec_schema(spec, op, media)
            errors = []
            for alt in alternatives(theirs, spec):
                errors = list(oas_validator(spec, alt).iter_errors(example))
                if not errors:
                    break
            assert not errors, f"{path.name} example rejected by spec for {op}: {errors[0].message}"
        for ref, value in named_components(fixture, example):     # and where it names a component
            oas_validator(spec, resolve(spec, {"$ref": ref})).validate(value)
