"""Each panel's own contract fixtures (``contracts/<panel>/<version>``) agree with that panel's
full spec in ``<repo>/../shared/specs`` (AGPL, not copied here; skipped where absent). The rules
are in spec_compare; each panel's file (test_<panel>_fixtures.py) proves they can fail."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from tests.contracts.spec_compare import (
    check_examples, check_fixture_files, check_fixture_matches_spec, check_version, load,
)

REPO = Path(__file__).resolve().parents[2]
PANELS = {
    "remnawave": (REPO / "contracts" / "remnawave" / "v3.2.3", REPO.parent / "shared" / "specs" / "remnawave-openapi.json"),
    "marzban": (REPO / "contracts" / "marzban" / "v0.8.4", REPO.parent / "shared" / "specs" / "marzban-openapi.json"),
}
FIXTURES = [(panel, path) for panel, (folder, _) in PANELS.items() for path in sorted(folder.glob("*.json"))]


@functools.cache
def _spec(panel: str) -> dict | None:
    path = PANELS[panel][1]
    return load(path) if path.exists() else None


def spec_of(panel: str) -> dict:
    spec = _spec(panel)
    if spec is None:
        pytest.skip(f"full {panel} spec not available at {PANELS[panel][1]} (shared folder absent)")
    return spec


@pytest.mark.parametrize("panel", PANELS)
def test_fixtures_exist_and_are_valid_json_schemas(panel):
    folder = PANELS[panel][0]
    check_fixture_files(folder, sorted(folder.glob("*.json")))


@pytest.mark.parametrize("panel", PANELS)
def test_fixtures_are_for_the_spec_version_they_claim(panel):
    check_version(spec_of(panel), PANELS[panel][0])


@pytest.mark.parametrize("panel, path", FIXTURES, ids=lambda v: v.name if isinstance(v, Path) else v)
def test_fixture_matches_spec_operation(panel, path):
    check_fixture_matches_spec(spec_of(panel), path)


@pytest.mark.parametrize("panel, path", FIXTURES, ids=lambda v: v.name if isinstance(v, Path) else v)
def test_examples_validate_against_fixture_and_spec(panel, path):
    check_examples(spec_of(panel), path)
