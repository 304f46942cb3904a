"""The Outline spec in ``contracts/outline`` is the upstream file, unmodified,
with its licence notice (Apache-2.0 requires both)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COPY = REPO / "contracts" / "outline" / "api.yml"
NOTICE = REPO / "contracts" / "outline" / "NOTICE"
SHARED = REPO.parent / "shared" / "specs" / "outline-server-api.yml"
UPSTREAM_BLOB = "2532d51ce9d18d9a21c28816626d11a5979b55e8"  # from shared/specs/SOURCES.md


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_copy_is_the_upstream_blob():
    assert git_blob_id(COPY.read_bytes()) == UPSTREAM_BLOB


def test_copy_keeps_its_licence_header_and_parses():
    text = COPY.read_text(encoding="utf-8")
    assert text.startswith("# Copyright 2024 The Outline Authors")
    assert "Licensed under the Apache License, Version 2.0" in text
    document = yaml.safe_load(text)
    assert document["openapi"].startswith("3.0")
    assert "/access-keys/{id}" in document["paths"]


def test_notice_names_source_commit_and_licence():
    notice = NOTICE.read_text(encoding="utf-8")
    for needle in (
        "Jigsaw-Code/outline-server",
        "src/shadowbox/server/api.yml",
        "4f59eea8a9a9ce479c59a77d9afea5a89b4e97c5",
        UPSTREAM_BLOB,
        "Apache License, Version 2.0",
    ):
        assert needle in notice, needle


def test_copy_equals_the_shared_spec():
    if not SHARED.exists():
        pytest.skip(f"shared spec folder absent: {SHARED}")
    assert COPY.read_bytes() == SHARED.read_bytes()
