"""``repurpose datasets register|show|split|list``: dataset versions on the cluster."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table
from rich.text import Text

from repurpose.cli.connect import KeyOption, UrlOption, open_client
from repurpose.cli.home import HomeOption
from repurpose.cli.output import JsonOption, console, fail, print_json, read_capped, run_or_exit
from repurpose.contracts.datasets import (
    MAX_DATASET_BYTES,
    DatasetDetail,
    DatasetRegistration,
    SplitSummary,
    ValidationReport,
)
from repurpose.contracts.splits import DEFAULT_SPLIT_KIND, DEFAULT_SPLIT_SEED, split_id_for

SHOWN_ROWS = 5  # rejected rows, duplicates and conflicts listed in text output
QUANTILES_SHOWN = (0.05, 0.25, 0.5, 0.75, 0.95)

datasets_app = typer.Typer(
    name="datasets", help="Register, inspect and split dataset versions.", no_args_is_help=True, add_completion=False
)


def register(app: typer.Typer) -> None:
    app.add_typer(datasets_app, name="datasets")


DatasetArgument = Annotated[str, typer.Argument(help="A dataset id, a unique prefix of it (4+ digits) or its name.")]


@datasets_app.command("register")
def register_command(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet with the columns SMILES,Protein,Y.")],
    name: Annotated[str | None, typer.Option("--name", help="A name for the version (default: the file stem).")] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate a pair table and store it as a dataset version named by its content."""
    if not file.is_file():
        raise fail(f"{file}: no such file")
    data = read_capped(file, MAX_DATASET_BYTES, "accepted; split the table")
    with contextlib.closing(open_client(url, key, home)) as client, _spinner(f"validating {file.name}", not as_json):
        registration: DatasetRegistration = run_or_exit(client.register_dataset, data, file.name, name)
    if as_json:
        print_json(registration)
        return
    dataset_id = registration.dataset_id
    if registration.created:
        console.print(f"registered dataset {dataset_id}  ({registration.name})", highlight=False)
    else:
        names = ", ".join([registration.name, *registration.aliases])
        console.print(f"already registered: dataset {dataset_id}  ({names})", highlight=False)
    _print_report(registration.report)


@datasets_app.command("show")
def show_command(
    dataset: DatasetArgument,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """The version's validation report, class balance, lengths, descriptor quantiles and splits."""
    with contextlib.closing(open_client(url, key, home)) as client:
        detail: DatasetDetail = run_or_exit(client.dataset, dataset)
    if as_json:
        print_json(detail)
        return
    console.print(f"dataset {detail.dataset_id}", highlight=False)
    aliases = f"  (also: {', '.join(detail.aliases)})" if detail.aliases else ""
    console.print(f"name      {detail.name}{aliases}", highlight=False)
    console.print(f"source    {detail.source} ({detail.format}), registered {detail.created_at:%Y-%m-%d %H:%M} UTC")
    _print_report(detail.report)
    _print_lengths(detail)
    _print_quantiles(detail)
    if detail.split_details:
        _print_splits(detail.split_details)
    else:
        console.print(
            f"splits    none yet: `repurpose datasets split ID --kind {DEFAULT_SPLIT_KIND} --seed {DEFAULT_SPLIT_SEED}`"
        )


@datasets_app.command("split")
def split_command(
    dataset: DatasetArgument,
    kind: Annotated[
        str, typer.Option("--kind", help="random, cold-drug, cold-target or scaffold.")
    ] = DEFAULT_SPLIT_KIND,
    seed: Annotated[
        int, typer.Option("--seed", help="The split's seed (same seed, same split; train's default split is the same).")
    ] = DEFAULT_SPLIT_SEED,
    fractions: Annotated[
        str | None, typer.Option("--fractions", help="train,val,test fractions (default 0.8,0.1,0.1).")
    ] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Split a version into train/val/test, seeded and reproducible; the split is stored."""
    parts = _parse_fractions(fractions)
    run_or_exit(split_id_for, kind, seed, parts)  # refuse a bad kind or fractions before connecting
    with contextlib.closing(open_client(url, key, home)) as client:
        dataset_id = run_or_exit(client.dataset, dataset).dataset_id  # the output names the version by its id
        with _spinner(f"splitting ({kind}, seed {seed})", not as_json):
            summary: SplitSummary = run_or_exit(client.split_dataset, dataset_id, kind, seed, parts)
    if as_json:
        print_json(summary)
        return
    console.print(f"split {summary.split_id} of dataset {dataset_id}", highlight=False)
    _print_splits([summary])


@datasets_app.command("list")
def list_command(
    home: HomeOption = None, url: UrlOption = None, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Every registered dataset version."""
    with contextlib.closing(open_client(url, key, home)) as client:
        versions = run_or_exit(client.datasets)
    if as_json:
        print_json([v.model_dump(mode="json") for v in versions])
        return
    if not versions:
        console.print("no dataset versions yet: `repurpose datasets register FILE`")
        return
    table = Table(
        Column("id", no_wrap=True),
        "name",
        Column("rows", justify="right"),
        Column("positive", justify="right"),
        "splits",
        Column("registered", no_wrap=True),
    )
    for v in versions:
        table.add_row(
            v.dataset_id[:12],
            ", ".join([v.name, *v.aliases]),
            str(v.counts.stored),
            f"{v.class_balance.positive_fraction:.0%}",
            ", ".join(v.splits) or "-",
            f"{v.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


# --- helpers -------------------------------------------------------------------------------------


def _spinner(message: str, enabled: bool) -> contextlib.AbstractContextManager[object]:
    # Text: a spinner reads a str as markup whatever the console says, and a file name is not markup
    return console.status(Text(message), spinner="dots") if enabled else contextlib.nullcontext()


def _parse_fractions(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise fail(f"--fractions takes three numbers such as 0.8,0.1,0.1, not {text!r}") from None
    if len(values) != 3:
        raise fail(f"--fractions takes three numbers (train,val,test), not {text!r}")
    return values


def _print_report(report: ValidationReport) -> None:
    counts, balance = report.counts, report.class_balance
    console.print(f"rows      {counts.read} read, {counts.stored} stored, {counts.rejected} rejected", highlight=False)
    console.print(
        f"          {counts.duplicates_removed} duplicate copies removed, "
        f"{counts.conflicts_dropped} with conflicting labels dropped",
        highlight=False,
    )
    console.print(f"content   {counts.compounds} compounds, {counts.proteins} proteins", highlight=False)
    console.print(
        f"classes   {balance.positives} positive, {balance.negatives} negative "
        f"({balance.positive_fraction:.1%} positive)",
        highlight=False,
    )
    if report.rejected:
        console.print(f"rejected  {counts.rejected} row(s):", highlight=False)
        for rejected in report.rejected[:SHOWN_ROWS]:
            console.print(f"  row {rejected.row}: {rejected.reason}", markup=False, highlight=False)
        _more(counts.rejected, SHOWN_ROWS)
    if report.duplicates:
        console.print(f"duplicates {len(report.duplicates)} pair(s) given more than once, stored once:")
        for group in report.duplicates[:SHOWN_ROWS]:
            rows = ", ".join(map(str, group.rows))
            console.print(f"  rows {rows}: {_short(group.smiles)} / {_short(group.protein)}", markup=False)
        _more(len(report.duplicates), SHOWN_ROWS)
    if report.conflicts:
        console.print(f"conflicts {len(report.conflicts)} pair(s) with both labels, not stored:")
        for conflict in report.conflicts[:SHOWN_ROWS]:
            console.print(
                f"  Y=1 in rows {', '.join(map(str, conflict.positive_rows))}; "
                f"Y=0 in rows {', '.join(map(str, conflict.negative_rows))}: {_short(conflict.smiles)}",
                markup=False,
            )
        _more(len(report.conflicts), SHOWN_ROWS)
    if not report.lists_complete:
        console.print(f"          (lists hold the first {len(report.rejected)} entries; the counts are exact)")
    if report.extra_columns:
        console.print(f"ignored   columns {', '.join(report.extra_columns)}", markup=False)


def _print_lengths(detail: DatasetDetail) -> None:
    for label, stats in (("heavy atoms", detail.compound_heavy_atoms), ("protein length", detail.protein_length)):
        console.print(
            f"{label:<15} min {stats.min}, median {stats.median:g}, mean {stats.mean:.1f}, max {stats.max}",
            highlight=False,
        )
    if detail.report.long_proteins:
        console.print(f"                {detail.report.long_proteins} row(s) with proteins over 1200 residues (cut)")


def _print_quantiles(detail: DatasetDetail) -> None:
    table = Table("descriptor", *(f"{q:.0%}" for q in QUANTILES_SHOWN), "mean", title="descriptor profile")
    for feature, profile in detail.profile.features.items():
        at = {round(q.level, 4): q.value for q in profile.quantiles}
        values = [f"{at.get(q, float('nan')):.4g}" for q in QUANTILES_SHOWN]
        table.add_row(feature.replace("_", " "), *values, f"{profile.mean:.4g}")
    console.print(table)


def _print_splits(splits: list[SplitSummary]) -> None:
    table = Table(
        Column("split", no_wrap=True),
        "part",
        Column("rows", justify="right"),
        Column("fraction", justify="right"),
        Column("groups", justify="right"),
        Column("positives", justify="right"),
        title="splits",
    )
    for split in splits:
        for name, part in (("train", split.train), ("val", split.val), ("test", split.test)):
            first = name == "train"
            table.add_row(
                split.split_id if first else "",
                name,
                str(part.size),
                f"{part.fraction:.1%}",
                str(part.groups),
                str(part.positives),
                end_section=name == "test",
            )
    console.print(table)
    console.print("groups: distinct compounds (cold-drug), proteins (cold-target), scaffolds or rows (random)")


def _more(total: int, shown: int) -> None:
    if total > shown:
        console.print(f"  … and {total - shown} more (`--json` lists them)")


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
