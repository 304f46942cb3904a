"""What a pass of a timed job did: the rows it wrote decide whom to nudge."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Outcome:
    notifications: int = 0    # notification rows written (the bot sends them)
    activations: int = 0      # activation rows written (vpn_gateway applies them)
    renewed: int = 0
    deleted_files: int = 0
    deleted_fsm_rows: int = 0

    def __iadd__(self, other: Outcome) -> Outcome:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)
        return self

    def as_dict(self) -> dict[str, int]:
        return {key: value for key, value in asdict(self).items() if value}
