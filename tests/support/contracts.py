"""Our contract fixtures (contracts/<panel>/<version>/<name>.json, JSON Schemas of what a panel
answers and what we send it) as validators, for the tests that check a stand-in against them."""
from __future__ import annotations

import json
from collections.abc import Callable

from jsonschema import Draft202012Validator, FormatChecker

from sandbox.kit.openapi import CONTRACTS_DIR


def contract_fixtures(folder: str) -> Callable[[str], Draft202012Validator]:
    """`fixture(name)` for one folder of contracts/ (e.g. "marzban/v0.8.4"): the schema in
    <name>.json as a validator that checks formats (date-time, uuid...) too."""
    root = CONTRACTS_DIR / folder

    def fixture(name: str) -> Draft202012Validator:
        schema = json.loads((root / f"{name}.json").read_text(encoding="utf-8"))
        return Draft202012Validator(schema, format_checker=FormatChecker())
    return fixture
