"""``--home``: where the cluster ``repurpose up`` started on this machine keeps its state.

Settings load only when a command reads a home: ``--help`` never pays for pydantic-settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Where the cluster keeps its state (default: REPURPOSE_HOME or ~/.repurpose)."),
]


def resolve_home(home: Path | None) -> Path:
    from repurpose.settings import Settings  # pydantic-settings: only where a home is read (start-up time)

    return Settings(home=home).home if home is not None else Settings().home
