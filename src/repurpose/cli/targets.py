"""``repurpose targets add|show|list``: target proteins on the cluster."""

from __future__ import annotations

import contextlib
import textwrap
from typing import Annotated

import typer
from rich.table import Column, Table
from rich.text import Text

from repurpose.cli.connect import KeyOption, UrlOption, open_client
from repurpose.cli.home import HomeOption
from repurpose.cli.output import JsonOption, console, print_json, run_or_exit, warn
from repurpose.contracts.targets import (
    MAX_PROTEIN_LENGTH,
    TargetDetail,
    TargetRegistration,
    check_target_id,
    normalize_target_sequence,
)

targets_app = typer.Typer(
    name="targets", help="Register and inspect target proteins.", no_args_is_help=True, add_completion=False
)

TargetArgument = Annotated[str, typer.Argument(help="A gene symbol (EGFR) or a UniProt accession (P00533).")]


def register(app: typer.Typer) -> None:
    app.add_typer(targets_app, name="targets")


@targets_app.command("add")
def add_command(
    target_id: TargetArgument,
    sequence: Annotated[str, typer.Option("--sequence", help="The amino-acid sequence (one-letter codes).")],
    name: Annotated[str | None, typer.Option("--name", help="A readable name (e.g. the protein's).")] = None,
    organism: Annotated[str | None, typer.Option("--organism", help="e.g. Homo sapiens.")] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a target; the same id with the same sequence again changes nothing."""
    run_or_exit(check_target_id, target_id)  # bad input is refused before connecting
    clean = run_or_exit(normalize_target_sequence, sequence)
    with contextlib.closing(open_client(url, key, home)) as client:
        registration: TargetRegistration = run_or_exit(client.register_target, target_id, sequence, name, organism)
    if len(clean) > MAX_PROTEIN_LENGTH:  # a warning, not an error: long proteins are scored on their start
        warn(
            f"{target_id}'s sequence has {len(clean):,} residues; the model reads the first {MAX_PROTEIN_LENGTH:,} "
            "(DrugBAN's input length), so residues past that do not change its scores"
        )
    if as_json:
        print_json(registration)
        return
    label = f" ({registration.name})" if registration.name else ""
    if registration.alias is not None:
        console.print(
            f"{registration.alias} is now an alias of target {registration.target_id}{label}: that target has the "
            f"same {registration.length}-residue sequence (registered first), and {registration.alias} names it",
            highlight=False,
        )
        return
    what = "registered" if registration.created else "already registered, same sequence:"
    console.print(f"{what} target {registration.target_id}{label}, {registration.length} residues", highlight=False)


@targets_app.command("show")
def show_command(
    target_id: TargetArgument,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """A target's sequence and screening history."""
    run_or_exit(check_target_id, target_id)
    with contextlib.closing(open_client(url, key, home)) as client:
        detail: TargetDetail = run_or_exit(client.target, target_id)
    if as_json:
        print_json(detail)
        return
    console.print(f"target    {detail.target_id} ({detail.id_kind})", highlight=False)
    if detail.aliases:
        console.print(f"aliases   {', '.join(detail.aliases)}", highlight=False)
    for label, value in (("name", detail.name), ("organism", detail.organism)):
        if value:
            console.print(f"{label:<9} {value}", markup=False, highlight=False)
    console.print(f"length    {detail.length} residues, sha256 {detail.sequence_sha256[:16]}…", highlight=False)
    console.print(f"added     {detail.registered_at:%Y-%m-%d %H:%M} UTC", highlight=False)
    console.print("sequence")
    console.print(textwrap.indent(textwrap.fill(detail.sequence, 60), "  "), highlight=False)
    if not detail.history:
        console.print("screened  never")
        return
    history = Table("job", "model", "date", "compounds", "best score", title="screening history")
    for entry in detail.history:
        best = f"{entry.best_hits[0].score:.3f}" if entry.best_hits else "-"
        history.add_row(
            entry.job_id, entry.model_ref, f"{entry.screened_at:%Y-%m-%d %H:%M}", str(entry.compounds_scored), best
        )
    console.print(history)
    hits = Table("score", "compound", "SMILES", title="best hits")
    for hit in detail.best_hits:
        hits.add_row(f"{hit.score:.3f}", Text(hit.compound_id or "-"), Text(hit.smiles))  # Text: "[nH]" is no markup
    console.print(hits)


@targets_app.command("list")
def list_command(
    home: HomeOption = None, url: UrlOption = None, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Every registered target."""
    with contextlib.closing(open_client(url, key, home)) as client:
        targets = run_or_exit(client.targets)
    if as_json:
        print_json([t.model_dump(mode="json") for t in targets])
        return
    if not targets:
        console.print("no targets yet: `repurpose targets add ID --sequence SEQ`")
        return
    table = Table(
        Column("id", no_wrap=True),
        "kind",
        "name",
        "organism",
        Column("length", justify="right"),
        Column("screenings", justify="right"),
        Column("added", no_wrap=True),
    )
    for t in targets:
        table.add_row(
            t.target_id,
            t.id_kind,
            Text(t.name or "-"),
            Text(t.organism or "-"),
            str(t.length),
            str(t.screenings),
            f"{t.registered_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)
