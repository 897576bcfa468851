"""The one default split of a dataset version, shared by the CLI, the gateway, the contracts and
the actors: `datasets split`, `train` and `models evaluate` all mean the same rows when no split
is named. (A leaf module: the CLI reads these as option defaults without importing RDKit.)"""

from __future__ import annotations

from typing import Final

DEFAULT_SPLIT_KIND: Final = "random"
DEFAULT_SPLIT_SEED: Final = 42
DEFAULT_SPLIT_ID: Final = f"{DEFAULT_SPLIT_KIND}-{DEFAULT_SPLIT_SEED}"
