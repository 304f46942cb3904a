"""An export_jobs row as the contract's ExportState."""
from __future__ import annotations

import asyncpg

from common.contract.scheduler import ExportState


def to_state(row: asyncpg.Record) -> ExportState:
    return ExportState(export_id=row["id"], kind=row["kind"], state=row["state"], rows=row["rows"],
                       bytes=row["bytes"], file_name=row["file_name"], error=row["error"],
                       created_at=row["created_at"], finished_at=row["finished_at"])
