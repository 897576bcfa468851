"""What every command shares: the consoles, ``--json``, progress bars and the error exit.

Bad input exits with status 2 and one line on stderr that says what is wrong.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from repurpose.errors import RepurposeError

P = ParamSpec("P")
T = TypeVar("T")

console = Console()
errors = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def print_json(value: BaseModel | dict[str, Any] | list[Any]) -> None:
    """One JSON document on stdout, nothing else (no Rich markup or wrapping)."""
    if isinstance(value, BaseModel):
        print(value.model_dump_json())
    else:
        print(json.dumps(value, default=str))


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` as one stderr line; ``raise fail(...)`` exits with status 2."""
    errors.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(2)


def run_or_exit(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call ``function``; a domain error becomes one line on stderr and exit status 2."""
    try:
        return function(*args, **kwargs)
    except RepurposeError as error:
        raise fail(error.message) from None


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not sys.stderr.isatty() and not sys.stdout.isatty(),
    )
