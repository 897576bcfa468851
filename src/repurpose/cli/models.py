"""``repurpose models list|show|promote|rollback|evaluate|card``: the model registry on the cluster."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Column, Table
from rich.text import Text

from repurpose.cli.connect import KeyOption, UrlOption, open_client
from repurpose.cli.home import HomeOption
from repurpose.cli.libraries import library_id, register_library_file
from repurpose.cli.output import JsonOption, console, fail, print_json, read_capped, run_or_exit
from repurpose.contracts.classification import BinaryMetrics
from repurpose.contracts.models import (
    EVALUATION_PARTS,
    MODEL_STAGES,
    ModelEvaluation,
    ModelVersionDetail,
    ModelVersionSummary,
    check_model_name,
    parse_version_ref,
)
from repurpose.contracts.retrieval import MAX_HELDOUT_BYTES, RetrievalResult, RetrievalSummary
from repurpose.contracts.splits import DEFAULT_SPLIT_ID, parse_split_id

if TYPE_CHECKING:
    from repurpose.contracts.client import RepurposeClient

METRICS_SHOWN = ("auroc", "auprc", "accuracy", "sensitivity", "specificity", "precision", "f1")
METRIC_LABELS = {"auroc": "AUROC", "auprc": "AUPRC", "f1": "F1", "sensitivity": "sens", "specificity": "spec"}
"""The metrics of a version's table (``models evaluate`` and ``--json`` give them all)."""

models_app = typer.Typer(
    name="models",
    help="The model registry: versions, stages (candidate → staging → production), rollback, evaluation.",
    no_args_is_help=True,
    add_completion=False,
)

NameArgument = Annotated[str, typer.Argument(help="The model's name (e.g. drugban-human).")]
VersionArgument = Annotated[
    str, typer.Argument(help="A version number, latest, or a stage (production, staging, candidate, archived).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


@models_app.command("list")
def list_command(
    home: HomeOption = None, url: UrlOption = None, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Every registered model name: how many versions, which is in production."""
    with contextlib.closing(open_client(url, key, home)) as client:
        models = run_or_exit(client.models)
    if as_json:
        print_json([m.model_dump(mode="json") for m in models])
        return
    if not models:
        console.print("no models registered yet: `repurpose up` registers the bundled models (models/)")
        return
    table = Table(
        "name",
        Column("versions", justify="right"),
        Column("production", justify="right"),
        Column("latest", justify="right"),
    )
    for m in models:
        table.add_row(m.name, str(m.versions), f"v{m.production}" if m.production else "-", f"v{m.latest}")
    console.print(table)


@models_app.command("show")
def show_command(
    name: NameArgument,
    version: Annotated[
        str | None,
        typer.Option("--version", help="A number, latest or a stage (default: production, else the latest)."),
    ] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """A version's lineage, metrics, evaluations and stage history, then every version of the model."""
    run_or_exit(check_model_name, name)
    if version is not None:
        run_or_exit(parse_version_ref, version)
    with contextlib.closing(open_client(url, key, home)) as client:
        overview = run_or_exit(client.model, name)
        summary, versions = overview.summary, overview.versions
        default = "production" if summary.production is not None else "latest"
        detail: ModelVersionDetail = run_or_exit(client.model_version, name, version or default)
    if as_json:
        print_json(detail)
        return
    _print_detail(detail)
    production = f"v{summary.production} in production" if summary.production else "none in production"
    console.print(f"model {name}: {_plural(summary.versions, 'version')}, {production}", highlight=False)
    _print_versions(versions)


@models_app.command("promote")
def promote_command(
    name: NameArgument,
    version: VersionArgument,
    stage: Annotated[str, typer.Option("--stage", help="candidate, staging, production or archived.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the stage history).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Skip the metric gates of production (never the stage rules).")
    ] = False,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move a version to another stage, through the registry's gates."""
    run_or_exit(check_model_name, name)
    run_or_exit(parse_version_ref, version)
    if stage not in MODEL_STAGES:
        raise fail(f"--stage takes one of {', '.join(MODEL_STAGES)}, not {stage!r}")
    with contextlib.closing(open_client(url, key, home)) as client:
        before: ModelVersionDetail = run_or_exit(client.model_version, name, version)
        number = before.version  # the version named now: a stage may name another one after the move
        replaced = run_or_exit(client.model, name).summary
        detail: ModelVersionDetail = run_or_exit(client.promote, name, str(number), stage, reason, force)
    if as_json:
        print_json(detail)
        return
    if before.stage == detail.stage:
        console.print(f"{name} v{number} is already in {detail.stage}; nothing changed", highlight=False)
        return
    why = detail.stage_history[-1].reason
    console.print(
        f"{name} v{number}: {before.stage} → {detail.stage}" + (f"  ({why})" if why else ""),
        markup=False,
        highlight=False,
    )
    if detail.stage == "production" and replaced.production not in (None, number):
        console.print(f"{name} v{replaced.production}: production → archived", highlight=False)


@models_app.command("rollback")
def rollback_command(
    name: NameArgument,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the stage history).")] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Archive the production version and put the previous production version back."""
    run_or_exit(check_model_name, name)
    with contextlib.closing(open_client(url, key, home)) as client:
        before = run_or_exit(client.model, name).summary
        detail: ModelVersionDetail = run_or_exit(client.rollback, name, reason)
    if as_json:
        print_json(detail)
        return
    console.print(
        f"{name}: rolled back to v{detail.version} (production); v{before.production} archived", highlight=False
    )


@models_app.command("evaluate")
def evaluate_command(
    name: NameArgument,
    version: VersionArgument,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset", help="A dataset id, a unique prefix of it (4+ digits) or its name.", show_default=False
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="Evaluate on a part of this split (e.g. random-42, cold-drug-1) [default: on the dataset the "
            "version was trained on, its own split; elsewhere every row].",
            show_default=False,
        ),
    ] = None,
    part: Annotated[
        str | None, typer.Option("--part", help="all, train, val or test (default: test with a split, else all).")
    ] = None,
    allow_overlap: Annotated[
        bool,
        typer.Option(
            "--allow-overlap",
            help="Evaluate even rows the version was trained on (by lineage), recording how many; refused otherwise.",
        ),
    ] = False,
    retrieval: Annotated[
        Path | None,
        typer.Option(
            "--retrieval",
            help="Instead of a dataset: a held-out set (CSV: target_id, protein, compound_id, smiles[, novel]) whose "
            "actives are ranked among decoys, per target (AUROC, EF 1 %, EF 5 %, BEDROC); stored with the version.",
            show_default=False,
        ),
    ] = None,
    decoys: Annotated[
        str | None,
        typer.Option(
            "--decoys",
            help="With --retrieval: a library file (CSV with compound_id,smiles, or .smi) or a registered library "
            "[default: the DrugBank compounds of the bundled data/library/compounds.csv].",
            show_default=False,
        ),
    ] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Metrics of a version, at its threshold, on a registered dataset version (or a part of a split);
    or, with --retrieval, how early it ranks held-out actives among decoys."""

    run_or_exit(check_model_name, name)
    run_or_exit(parse_version_ref, version)
    if (dataset is None) == (retrieval is None):
        raise fail("give --dataset (pair metrics) or --retrieval FILE (held-out actives among decoys), one of them")
    if retrieval is not None:
        if split is not None or part is not None or allow_overlap:
            raise fail("--split, --part and --allow-overlap go with --dataset, not with --retrieval")
        _evaluate_retrieval(name, version, retrieval, decoys, home, url, key, as_json)
        return
    if decoys is not None:
        raise fail("--decoys goes with --retrieval FILE")
    assert dataset is not None
    if split is not None:
        run_or_exit(parse_split_id, split)
    if part is not None and part not in EVALUATION_PARTS:
        raise fail(f"--part takes one of {', '.join(EVALUATION_PARTS)}, not {part!r}")
    if part not in (None, "all") and split is None:
        raise fail(f"--part {part} is a part of a split: give --split too (e.g. --split {DEFAULT_SPLIT_ID})")
    status = console.status(Text(f"evaluating {name} ({version})"), spinner="dots") if not as_json else None
    with contextlib.closing(open_client(url, key, home)) as client, status or contextlib.nullcontext():
        number = run_or_exit(client.model_version, name, version).version
        evaluation: ModelEvaluation = run_or_exit(
            client.evaluate, name, str(number), dataset, split, part, allow_overlap
        )
    if as_json:
        print_json(evaluation)
        return
    rows = "every row" if evaluation.split_id is None else f"split {evaluation.split_id}, part {evaluation.part}"
    console.print(f"{name} v{number} on dataset {evaluation.dataset_id[:12]} ({rows})", highlight=False)
    console.print(_overlap_line(evaluation), highlight=False)
    table = Table("metric", Column("value", justify="right"))
    for key in (*METRICS_SHOWN, "threshold"):
        table.add_row(key, _number(getattr(evaluation.metrics, key)))
    table.add_row("n", str(evaluation.metrics.n))
    console.print(table)


@models_app.command("card")
def card_command(
    name: NameArgument,
    version: Annotated[
        str | None,
        typer.Option("--version", help="A number, latest or a stage (default: production, else the latest)."),
    ] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """A version's model card (Markdown): its directory's card, then its stage, evaluations and retrieval."""
    run_or_exit(check_model_name, name)
    if version is not None:
        run_or_exit(parse_version_ref, version)
    with contextlib.closing(open_client(url, key, home)) as client:
        if version is None:
            version = "production" if run_or_exit(client.model, name).summary.production is not None else "latest"
        card: str = run_or_exit(client.card, name, version)
    if as_json:
        print_json({"name": name, "card": card})
        return
    console.print(card, markup=False, highlight=False, soft_wrap=True, end="")


# --- helpers -------------------------------------------------------------------------------------


def _evaluate_retrieval(
    name: str,
    version: str,
    heldout: Path,
    decoys: str | None,
    home: Path | None,
    url: str | None,
    key: str | None,
    as_json: bool,
) -> None:
    """``models evaluate --retrieval``: rank the held-out actives among decoys on the cluster, print the figures."""
    if not heldout.is_file():
        raise fail(f"--retrieval {heldout}: no such file")
    data = read_capped(heldout, MAX_HELDOUT_BYTES, "a held-out set may have")
    with contextlib.closing(open_client(url, key, home)) as client:
        decoy_library = _decoy_library(client, decoys, quiet=as_json) if decoys is not None else None
        status = console.status(Text(f"ranking {heldout.name} with {name} ({version})"), spinner="dots")
        with status if not as_json else contextlib.nullcontext():
            number = run_or_exit(client.model_version, name, version).version
            result: RetrievalResult = run_or_exit(
                client.evaluate_retrieval, name, str(number), data, heldout.name, decoy_library
            )
    if as_json:
        print_json(result)
        return
    _print_retrieval(f"{name} v{number}", result)


def _decoy_library(client: RepurposeClient, decoys: str, *, quiet: bool) -> str:
    """The id of the decoy library: a file is registered first (content-addressed: once)."""
    path = Path(decoys)
    if path.is_file():
        return register_library_file(client, path, None, quiet=quiet).library_id
    return library_id(client, decoys)


def _print_retrieval(who: str, result: RetrievalResult) -> None:
    summary = result.summary
    console.print(
        f"{who} on {result.heldout}: {result.actives:,} held-out actives of {len(summary.targets)} targets ranked "
        f"among {result.decoy_count:,} decoys ({result.decoys})",
        highlight=False,
        soft_wrap=True,
    )
    table = Table(
        Column("target", no_wrap=True),
        Column("actives", justify="right"),
        Column("AUROC", justify="right"),
        Column("EF 1 %", justify="right"),
        Column("EF 5 %", justify="right"),
        Column("BEDROC", justify="right"),
    )
    for t in summary.targets:
        table.add_row(t.target, str(t.actives), f"{t.auroc:.3f}", f"{t.ef1:.1f}", f"{t.ef5:.1f}", f"{t.bedroc:.3f}")
    table.add_section()
    table.add_row("mean", str(result.actives), *_retrieval_means(summary))
    if result.novel is not None:
        table.add_row("novel chemotypes, mean", str(result.novel_actives), *_retrieval_means(result.novel))
    console.print(table)
    if result.novel is None:
        console.print("novel chemotypes: none marked in this held-out set (its novel column)", highlight=False)
    if result.decoys_dropped:
        console.print(f"left out {result.decoys_dropped} decoy compound(s) no model can read", highlight=False)
    if result.unscored:
        console.print(f"ranked last {result.unscored} compound(s) the model could not score", highlight=False)


def _retrieval_means(summary: RetrievalSummary) -> list[str]:
    return [
        f"{summary.mean_auroc:.3f}",
        f"{summary.mean_ef1:.1f}",
        f"{summary.mean_ef5:.1f}",
        f"{summary.mean_bedroc:.3f}",
    ]


def _print_versions(versions: list[ModelVersionSummary]) -> None:
    table = Table(
        Column("version", justify="right"),
        Column("stage", no_wrap=True),
        "type",
        Column("val AUROC", justify="right"),
        Column("threshold", justify="right"),
        Column("registered", no_wrap=True),
    )
    for v in versions:
        table.add_row(
            f"v{v.version}",
            v.stage,
            v.model_type,
            _number(v.val_metrics.auroc),
            _number(v.threshold),
            f"{v.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


def _print_detail(detail: ModelVersionDetail) -> None:
    lineage, training = detail.lineage, detail.lineage.training
    best = f"; best epoch {detail.manifest.best_epoch}" if detail.manifest.best_epoch else ""
    lines = [
        f"model       {detail.name} v{detail.version} ({detail.stage})",
        f"type        {detail.model_type}, threshold {detail.threshold:.4f}",
        f"registered  {detail.created_at:%Y-%m-%d %H:%M} UTC",
        f"artifact    {detail.artifact_path}",
        f"source      {lineage.source} (code {lineage.code_version})",
        f"training    {training.model_type}: {training.describe()}{best}",
    ]
    if lineage.run_id or lineage.dataset_id:
        lines.insert(
            5,
            f"trained on  dataset {lineage.dataset_id or '-'}, split {lineage.split_id or '-'}, "
            f"run {lineage.run_id or '-'}",
        )
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    metrics = Table(
        Column("on", no_wrap=True),
        *(Column(label, justify="right") for label in METRIC_LABELS.values()),
        Column("n", justify="right"),
        title="metrics at the threshold",
        box=box.SIMPLE_HEAD,
    )
    metrics.add_row("validation (training)", *_metric_cells(detail.val_metrics))
    for e in detail.evaluations:
        rows = "all rows" if e.split_id is None else f"{e.split_id} {e.part}"
        overlap = f" (overlap: {e.training_overlap} training rows)" if e.training_overlap else ""
        metrics.add_row(f"{e.dataset_id[:8]} {rows}{overlap}", *_metric_cells(e.metrics))
    console.print(metrics)
    if detail.retrieval:
        retrieval = Table(
            Column("held-out set", overflow="fold"),
            Column("decoys", justify="right"),
            Column("actives", justify="right"),
            Column("AUROC", justify="right"),
            Column("EF 1 %", justify="right"),
            Column("EF 5 %", justify="right"),
            Column("BEDROC", justify="right"),
            title="retrieval (means over targets)",
            box=box.SIMPLE_HEAD,
        )
        for r in detail.retrieval:
            retrieval.add_row(r.heldout, f"{r.decoy_count:,}", str(r.actives), *_retrieval_means(r.summary))
            if r.novel is not None:  # the decoys' names are in `models card`
                retrieval.add_row("  novel", "", str(r.novel_actives), *_retrieval_means(r.novel))
        console.print(retrieval)
    history = Table(Column("at", no_wrap=True), "stage", "reason", title="stage history", box=box.SIMPLE_HEAD)
    for change in detail.stage_history:
        history.add_row(f"{change.at:%Y-%m-%d %H:%M:%S}", change.stage, change.reason or "-")
    console.print(history)


def _overlap_line(evaluation: ModelEvaluation) -> str:
    if evaluation.training_overlap is None:
        return "training rows: unknown (its lineage names no dataset split), not checked"
    if evaluation.training_overlap == 0:
        return "training rows: none of these rows (checked against its lineage)"
    return (
        f"overlap: {evaluation.training_overlap:,} of {evaluation.metrics.n:,} rows are training rows of this version: "
        "these metrics overstate it"
    )


def _metric_cells(metrics: BinaryMetrics) -> list[str]:
    return [*(_number(getattr(metrics, k), 3) for k in METRIC_LABELS), str(metrics.n)]


def _number(value: float, digits: int = 4) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
