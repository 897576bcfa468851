"""``--home``: how commands reach the cluster ``repurpose up`` started on this machine.

A grain client on it (``client_for``) and an engine on its store (``store_engine``). Ray, the
grain runtime and SQLAlchemy load only when a command runs here: ``--help`` and commands sent to
a gateway (``--url``) never pay for them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from repurpose.cli.output import run_or_exit

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from repurpose.grains import GrainClient

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Where the cluster keeps its state (default: REPURPOSE_HOME or ~/.repurpose)."),
]


def resolve_home(home: Path | None) -> Path:
    from repurpose.settings import Settings  # pydantic-settings: only where a home is read (start-up time)

    return Settings(home=home).home if home is not None else Settings().home


def client_for(home: Path | None) -> GrainClient:
    """A grain client on the cluster ``up`` started under ``home``; exits 2 with one line if none runs."""
    from repurpose.runtime.cluster import connect  # Ray and the grain runtime: only here (start-up time)

    return run_or_exit(connect, resolve_home(home))


@contextlib.contextmanager
def store_engine(client: GrainClient) -> Iterator[Engine]:
    """An engine on the cluster's store, for commands that list or resolve ids (disposed after)."""
    from repurpose.store import make_engine  # SQLAlchemy: only here (start-up time)

    engine = make_engine(client.settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()
