"""``repurpose libraries register|list|show``: compound libraries on the cluster; and how other
commands (``screen``, ``models evaluate --retrieval``) register a library file or name a library."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Column, Table
from rich.text import Text

from repurpose.cli.connect import KeyOption, UrlOption, open_client
from repurpose.cli.home import HomeOption
from repurpose.cli.output import JsonOption, console, fail, print_json, read_capped, run_or_exit, say
from repurpose.contracts.screening import MAX_LIBRARY_BYTES, LibraryDetail, LibraryRegistration

if TYPE_CHECKING:
    from repurpose.contracts.client import RepurposeClient

libraries_app = typer.Typer(
    name="libraries", help="Register and inspect compound libraries.", no_args_is_help=True, add_completion=False
)

LibraryArgument = Annotated[str, typer.Argument(help="A library id, a unique prefix of it (4+ digits) or its name.")]


def register(app: typer.Typer) -> None:
    app.add_typer(libraries_app, name="libraries")


def register_library_file(client: RepurposeClient, path: Path, name: str | None, *, quiet: bool) -> LibraryRegistration:
    """Register the library in ``path`` (content-addressed: a file registered before is found)."""
    data = read_capped(path, MAX_LIBRARY_BYTES, "accepted; split the library")
    # Text: a spinner reads a str as markup whatever the console says, and a file name is not markup
    status = console.status(Text(f"registering {path.name}"), spinner="dots") if not quiet else contextlib.nullcontext()
    with status:
        registration: LibraryRegistration = run_or_exit(client.register_library, data, path.name, name)
    if not quiet:
        what = "registered" if registration.created else "already registered:"
        label = f"{registration.name}, {registration.compounds:,} compounds"
        say(f"{what} library {registration.library_id[:12]} ({label})")
    return registration


def library_id(client: RepurposeClient, reference: str) -> str:
    """The full id of the library ``reference`` names (an id, a unique prefix or a name)."""
    return run_or_exit(client.library, reference).library_id


@libraries_app.command("register")
def register_command(
    file: Annotated[Path, typer.Argument(help="CSV with compound_id (or id, name) and smiles columns, or .smi.")],
    name: Annotated[str | None, typer.Option("--name", help="A name for the library (default: the file stem).")] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store a compound library named by its content (SMILES are checked when screened)."""
    if not file.is_file():
        raise fail(f"{file}: no such file")
    with contextlib.closing(open_client(url, key, home)) as client:
        registration = register_library_file(client, file, name, quiet=as_json)
    if as_json:
        print_json(registration)
        return
    say(f"id        {registration.library_id}")
    if registration.extra_columns:
        say(f"ignored   columns {', '.join(registration.extra_columns)}")


@libraries_app.command("list")
def list_command(
    home: HomeOption = None, url: UrlOption = None, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Every registered library."""
    with contextlib.closing(open_client(url, key, home)) as client:
        libraries = run_or_exit(client.libraries)
    if as_json:
        print_json([v.model_dump(mode="json") for v in libraries])
        return
    if not libraries:
        say("no libraries yet: `repurpose libraries register FILE`")
        return
    table = Table(
        Column("id", no_wrap=True),
        "name",
        Column("compounds", justify="right"),
        "source",
        Column("registered", no_wrap=True),
    )
    for v in libraries:
        table.add_row(
            v.library_id[:12],
            Text(", ".join([v.name, *v.aliases])),
            f"{v.compounds:,}",
            Text(v.source),
            f"{v.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@libraries_app.command("show")
def show_command(
    library: LibraryArgument,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """A library's summary and its first compounds."""
    with contextlib.closing(open_client(url, key, home)) as client:
        detail: LibraryDetail = run_or_exit(client.library, library)
    if as_json:
        print_json(detail)
        return
    say(f"library   {detail.library_id}")
    aliases = f"  (also: {', '.join(detail.aliases)})" if detail.aliases else ""
    say(f"name      {detail.name}{aliases}")
    say(f"source    {detail.source} ({detail.format}), registered {detail.created_at:%Y-%m-%d %H:%M} UTC")
    say(f"compounds {detail.compounds:,} ({detail.compounds_path})")
    sample = Table("compound", "SMILES", title="first compounds")
    for compound in detail.sample:
        sample.add_row(Text(compound.compound_id), Text(compound.smiles))
    console.print(sample)
