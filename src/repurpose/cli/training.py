"""``repurpose train`` (on files here, or as a run on the cluster) and ``repurpose runs list|show|cancel``."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.table import Column, Table

from repurpose.cli.connect import KeyOption, UrlOption, open_client
from repurpose.cli.home import HomeOption
from repurpose.cli.output import JsonOption, console, errors, fail, print_json, progress_bar, run_or_exit
from repurpose.contracts.models import check_model_name
from repurpose.contracts.splits import DEFAULT_SPLIT_ID
from repurpose.contracts.training import (
    EpochRecord,
    ModelType,
    TrainingConfig,
    drugban_config,
    training_config,
    unused_reason,
    used_settings,
)
from repurpose.contracts.training_runs import RunDetail, RunRequest
from repurpose.errors import RepurposeError

if TYPE_CHECKING:
    from repurpose.contracts.client import RepurposeClient
    from repurpose.training.loop import Progress as TrainingProgress

POLL_SECONDS = 1.0
_OPTIONS = {"model_name": "--name", "num_cpus": "--cpus", "num_gpus": "--gpus", "split_id": "--split"}
_NO_DATASET_YET = "0" * 64  # a well-formed id to check the other settings with, before resolving --dataset

runs_app = typer.Typer(
    name="runs", help="Inspect and cancel training runs on the cluster.", no_args_is_help=True, add_completion=False
)
RunArgument = Annotated[str, typer.Argument(help="A run id or a unique prefix of it (6+ hex digits).")]


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.add_typer(runs_app, name="runs")


def train(
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="Train on a registered dataset version (id, prefix or name) on the cluster."),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="With --dataset: the split (train/val parts).")
    ] = DEFAULT_SPLIT_ID,
    name: Annotated[str | None, typer.Option("--name", help="With --dataset: the registry name of the model.")] = None,
    train_file: Annotated[
        Path | None, typer.Option("--train", help="Training pairs (CSV/Parquet: SMILES,Protein,Y), trained here.")
    ] = None,
    val_file: Annotated[Path | None, typer.Option("--val", help="Validation pairs: best epoch and threshold.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="With --train: the model directory to write.")] = None,
    model_type: Annotated[ModelType, typer.Option("--model-type")] = "drugban",
    members: Annotated[
        str | None,
        typer.Option("--members", help="Ensemble only: member types, comma-separated (default knn,xgb)."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="DrugBAN only (default 100).")] = None,
    batch_size: Annotated[int | None, typer.Option(min=2, help="DrugBAN only (default 64).")] = None,
    lr: Annotated[float | None, typer.Option(min=0.0, help="DrugBAN only (default 5e-05).")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Every type but knn (default 42).")] = None,
    resume: Annotated[bool, typer.Option(help="With --train: continue from the last checkpoint in --out.")] = False,
    cpus: Annotated[float | None, typer.Option("--cpus", help="With --dataset: CPUs for the worker.")] = None,
    gpus: Annotated[float, typer.Option("--gpus", min=0, help="With --dataset: GPUs for the worker.")] = 0,
    detach: Annotated[bool, typer.Option("--detach", help="With --dataset: start the run and return.")] = False,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a model: from pair files into a directory (--train/--val/--out), or as a cluster run (--dataset).

    Each model type takes only the settings it uses (an ensemble: those of its members)."""
    member_list = _member_list(members)
    if dataset is not None:
        if train_file is not None or val_file is not None or out is not None or resume:
            raise fail("--dataset trains on the cluster: leave out --train, --val, --out and --resume")
        settings = _Settings(member_list, epochs, batch_size, lr, seed)
        request = _run_request(split, name, model_type, settings, cpus, gpus)
        with contextlib.closing(open_client(url, key, home)) as client:
            _train_on_cluster(client, dataset, request, detach, as_json)
        return
    if train_file is None or val_file is None or out is None:
        raise fail("give --dataset ID (train on the cluster), or --train FILE --val FILE --out DIR (train here)")
    _train_here(train_file, val_file, out, model_type, _Settings(member_list, epochs, batch_size, lr, seed), resume)


@dataclass(frozen=True)
class _Settings:
    """The model type's settings as given on the command line (None: left out)."""

    members: list[str] | None
    epochs: int | None
    batch_size: int | None
    lr: float | None
    seed: int | None


def _member_list(members: str | None) -> list[str] | None:
    return None if members is None else [m.strip() for m in members.split(",")]


def _checked_config(model_type: ModelType, settings: _Settings) -> TrainingConfig:
    """The training config, or one line naming the option the type does not use (or a bad value)."""
    used = used_settings(model_type, settings.members)
    for name, value in vars(settings).items():
        if value is not None and name not in used:
            raise fail(f"--{name.replace('_', '-')}: {unused_reason(model_type, name)}")
    try:
        return training_config(model_type, **vars(settings))
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][-1]) if first["loc"] else "settings"
        raise fail(f"--{field.replace('_', '-')}: {str(first['msg']).removeprefix('Value error, ')}") from None
    except RepurposeError as error:
        raise fail(error.message) from None


def _train_here(
    train_file: Path,
    val_file: Path,
    out: Path,
    model_type: ModelType,
    settings: _Settings,
    resume: bool,
) -> None:
    # PyTorch, RDKit and the model code load only when a command trains here (start-up time)
    from repurpose.training.loop import CHECKPOINT_FILE
    from repurpose.training.pipeline import CHECKPOINT_DIR, train_model

    config = _checked_config(model_type, settings)
    if resume and drugban_config(config) is None:
        raise fail(f"--resume continues a DrugBAN training from its checkpoint; {model_type} fits in one step")
    if resume and not (out / CHECKPOINT_DIR / CHECKPOINT_FILE).exists():
        errors.print(f"note: no checkpoint in {out / CHECKPOINT_DIR}: training from the first epoch", highlight=False)
    with progress_bar() as progress:
        task = progress.add_task("preparing", total=None)

        def on_progress(p: TrainingProgress) -> None:
            progress.update(
                task, description=f"epoch {p.epoch}/{p.epochs} loss {p.loss:.3f}", completed=p.batch, total=p.batches
            )

        def on_epoch(r: EpochRecord) -> None:
            progress.console.print(
                f"epoch {r.epoch:>3}  loss {r.train_loss:.4f}  "
                f"val AUROC {r.val_auroc:.4f}  AUPRC {r.val_auprc:.4f}  {r.seconds:.0f}s"
            )

        if model_type != "drugban":
            progress.update(task, description=f"fitting {model_type}")  # an ensemble's DrugBAN member shows epochs
        manifest = run_or_exit(
            train_model, train_file, val_file, out, config, resume=resume, on_progress=on_progress, on_epoch=on_epoch
        )
    m = manifest.val_metrics
    console.print(
        f"wrote {out}  ({model_type}; val AUROC {m.auroc:.4f}, AUPRC {m.auprc:.4f}, threshold {m.threshold:.4f}"
        + (f", best epoch {manifest.best_epoch})" if manifest.best_epoch else ")")
    )


def _run_request(
    split: str, name: str | None, model_type: ModelType, settings: _Settings, cpus: float | None, gpus: float
) -> RunRequest:
    """The run's request with every setting checked, before the cluster is asked anything; its
    dataset id is a placeholder until ``--dataset`` is resolved there."""
    if name is not None:
        run_or_exit(check_model_name, name)
    try:
        return RunRequest(
            dataset_id=_NO_DATASET_YET,
            split_id=split,
            model_type=model_type,
            members=settings.members,  # type: ignore[arg-type]  # RunRequest checks the names
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            lr=settings.lr,
            seed=settings.seed,
            model_name=name,
            num_cpus=cpus,
            num_gpus=gpus,
        )
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "request"
        option = _OPTIONS.get(field, f"--{field.replace('_', '-')}")
        raise fail(f"{option}: {str(first['msg']).removeprefix('Value error, ')}") from None


def _train_on_cluster(client: RepurposeClient, dataset: str, request: RunRequest, detach: bool, as_json: bool) -> None:
    dataset_id = run_or_exit(client.dataset, dataset).dataset_id
    request = request.model_copy(update={"dataset_id": dataset_id})
    detail: RunDetail = run_or_exit(client.start_run, request)
    if not as_json:
        what = "started" if detail.created else f"found ({detail.status})"
        console.print(
            f"run {detail.run_id[:12]} {what}: {request.model_type} -> model {detail.model_name}", highlight=False
        )
    if not detach and detail.status == "running":
        detail = _follow(client, detail, quiet=as_json)
    if as_json:
        print_json(detail)
        return
    _print_outcome(detail)
    if detail.status in ("failed", "cancelled"):
        raise typer.Exit(1)


def _follow(client: RepurposeClient, detail: RunDetail, *, quiet: bool) -> RunDetail:
    """Poll the run until it finishes, with a progress bar over its epochs."""
    with progress_bar() as bar:
        task = bar.add_task("starting", total=detail.request.drugban_epochs() or 1, visible=not quiet)
        shown = len(detail.history)
        while detail.status == "running":
            time.sleep(POLL_SECONDS)
            detail = run_or_exit(client.run, detail.run_id)
            for record in detail.history[shown:]:
                if not quiet:
                    bar.console.print(
                        f"epoch {record.epoch:>3}  loss {record.train_loss:.4f}  val AUROC {record.val_auroc:.4f}",
                        highlight=False,
                    )
            shown = len(detail.history)
            p = detail.progress
            if p is not None:
                loss = f" loss {p.loss:.3f}" if p.loss is not None else ""
                bar.update(task, description=f"epoch {p.epoch}/{p.epochs}{loss}", completed=len(detail.history))
    return detail


def _print_outcome(detail: RunDetail) -> None:
    if detail.status == "succeeded" and detail.model is not None:
        auroc = f", val AUROC {detail.val_metrics.auroc:.4f}" if detail.val_metrics else ""
        console.print(
            f"run {detail.run_id[:12]} succeeded: model {detail.model.name} v{detail.model.version}{auroc}",
            highlight=False,
        )
    elif detail.status == "running":
        console.print(f"run {detail.run_id[:12]} is running: `repurpose runs show {detail.run_id[:12]}`")
    else:
        reason = f": {detail.error}" if detail.error else ""
        console.print(f"run {detail.run_id[:12]} {detail.status}{reason}", highlight=False)


@runs_app.command("list")
def list_command(
    home: HomeOption = None, url: UrlOption = None, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Every training run, newest first."""
    with contextlib.closing(open_client(url, key, home)) as client:
        runs = run_or_exit(client.runs)
    if as_json:
        print_json([r.model_dump(mode="json") for r in runs])
        return
    if not runs:
        console.print("no training runs yet: `repurpose train --dataset ID`")
        return
    table = Table(
        Column("run", no_wrap=True), "status", "type", Column("model", no_wrap=True), "split", "val AUROC", "created"
    )
    for r in runs:
        model = f"{r.model.name} v{r.model.version}" if r.model else r.model_name
        auroc = f"{r.val_auroc:.4f}" if r.val_auroc is not None else "-"
        table.add_row(r.run_id[:12], r.status, r.model_type, model, r.split_id, auroc, f"{r.created_at:%m-%d %H:%M}")
    console.print(table)


@runs_app.command("show")
def show_command(
    run: RunArgument, home: HomeOption = None, url: UrlOption = None, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """A run's status, progress, curves and the model it made."""
    with contextlib.closing(open_client(url, key, home)) as client:
        detail: RunDetail = run_or_exit(client.run, run)
    if as_json:
        print_json(detail)
        return
    r = detail.request
    console.print(f"run       {detail.run_id}", highlight=False)
    console.print(f"status    {detail.status} (attempts {detail.attempts})", highlight=False)
    console.print(f"model     {detail.model_name} ({r.model_type}), code {detail.code_version}", highlight=False)
    console.print(f"data      dataset {r.dataset_id[:12]} split {r.split_id}", highlight=False)
    console.print(f"settings  {_settings_line(r)}", highlight=False)
    if detail.resumed_from_epoch:
        console.print(f"resumed   after epoch {detail.resumed_from_epoch}", highlight=False)
    p = detail.progress
    if p is not None and detail.status == "running":
        eta = f", ETA {p.eta_seconds:.0f}s" if p.eta_seconds is not None else ""
        auroc = f", val AUROC {p.val_auroc:.4f}" if p.val_auroc is not None else ""
        console.print(f"progress  epoch {p.epoch}/{p.epochs} batch {p.batch}/{p.batches}{auroc}{eta}", highlight=False)
    if detail.history:
        curves = Table("epoch", "train loss", "val AUROC", "val AUPRC", "seconds", title="curves")
        for h in detail.history:
            curves.add_row(
                str(h.epoch), f"{h.train_loss:.4f}", f"{h.val_auroc:.4f}", f"{h.val_auprc:.4f}", f"{h.seconds:.1f}"
            )
        console.print(curves)
    if detail.mlflow_run_id:
        console.print(f"mlflow    run {detail.mlflow_run_id}", highlight=False)
    _print_outcome(detail)


def _settings_line(request: RunRequest) -> str:
    """The run's own parameters (a request stored under older rules: the fields it holds)."""
    try:
        return request.training_config().describe()
    except (RepurposeError, ValidationError):
        r = request
        return f"epochs {r.epochs}, batch {r.batch_size}, lr {r.lr}, seed {r.seed}"


@runs_app.command("cancel")
def cancel_command(
    run: RunArgument, home: HomeOption = None, url: UrlOption = None, key: KeyOption = None, as_json: JsonOption = False
) -> None:
    """Stop a running run; starting the same run again resumes from its last checkpoint."""
    with contextlib.closing(open_client(url, key, home)) as client:
        detail: RunDetail = run_or_exit(client.cancel_run, run)
    if as_json:
        print_json(detail)
        return
    console.print(f"run {detail.run_id[:12]} {detail.status}", highlight=False)
