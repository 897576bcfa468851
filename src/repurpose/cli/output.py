"""What every command shares: the consoles, ``--json``, progress bars and the error exit.

Bad input exits with status 2 and one line on stderr that says what is wrong.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from repurpose.errors import RepurposeError

P = ParamSpec("P")
T = TypeVar("T")

# User data (target names, SMILES such as "C1CC:x:", file names) is printed as it is: neither
# Rich markup ("[bold]") nor emoji codes (":x:") are read in it. Own styling goes through
# ``style=`` or ``Text`` objects, never markup in strings.
console = Console(markup=False, emoji=False)
errors = Console(stderr=True, markup=False, emoji=False)

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


def read_capped(path: Path, limit: int, beyond: str) -> bytes:
    """The bytes of an upload file, refused before reading when over ``limit``; ``beyond`` ends
    the message ("accepted; split the table")."""
    size = path.stat().st_size
    if size > limit:
        raise fail(f"{path}: {size:,} bytes is more than the {limit:,} {beyond}")
    return path.read_bytes()


def say(text: str) -> None:
    """One line for people: no markup, no highlighting, never wrapped (ids and paths stay whole)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    """Print ``warning: message`` as one stderr line; the command goes on (stdout stays its answer)."""
    errors.print(f"warning: {message}", highlight=False, soft_wrap=True)


def run_or_exit(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call ``function``; a domain error becomes one line on stderr and exit status 2."""
    try:
        return function(*args, **kwargs)
    except RepurposeError as error:
        raise fail(error.message) from None


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not sys.stderr.isatty() and not sys.stdout.isatty(),
    )
