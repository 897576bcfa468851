"""The ``repurpose`` command. Output is for people; ``--json`` is for machines.

Bad input exits with status 2 and one line on stderr that says what is wrong.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from repurpose.errors import RepurposeError
from repurpose.training import EpochRecord, ModelType, TrainingConfig
from repurpose.training import Progress as TrainingProgress

app = typer.Typer(
    name="repurpose",
    help="Drug–target interaction models: train, evaluate and predict with DrugBAN and baselines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
P = ParamSpec("P")
T = TypeVar("T")
errors = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


@app.command()
def train(
    train_file: Annotated[Path, typer.Option("--train", help="Training pairs (CSV/Parquet: SMILES,Protein,Y).")],
    val_file: Annotated[Path, typer.Option("--val", help="Validation pairs: best epoch and threshold.")],
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    model_type: Annotated[ModelType, typer.Option("--model-type")] = "drugban",
    epochs: Annotated[int, typer.Option(min=1)] = 100,
    batch_size: Annotated[int, typer.Option(min=2)] = 64,
    lr: Annotated[float, typer.Option(min=0.0)] = 5e-5,
    seed: int = 42,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint in --out.")] = False,
) -> None:
    """Train a model and write its directory (weights, threshold, metrics, model card)."""
    from repurpose.pipeline import train_model

    config = TrainingConfig(model_type=model_type, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    with _progress() as progress:
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
            progress.update(task, description=f"fitting {model_type}")
        manifest = _run(
            train_model, train_file, val_file, out, config, resume=resume, on_progress=on_progress, on_epoch=on_epoch
        )
    m = manifest.val_metrics
    console.print(
        f"wrote {out}  ({model_type}; val AUROC {m.auroc:.4f}, AUPRC {m.auprc:.4f}, threshold {m.threshold:.4f}"
        + (f", best epoch {manifest.best_epoch})" if manifest.best_epoch else ")")
    )


@app.command()
def evaluate(
    model: Annotated[Path, typer.Option("--model", help="A model directory.")],
    data: Annotated[Path, typer.Option("--data", help="Labelled pairs (SMILES,Protein,Y).")],
    as_json: JsonOption = False,
) -> None:
    """AUROC, AUPRC and thresholded metrics of a model on labelled pairs."""
    from repurpose.pipeline import evaluate_model

    metrics = _run(evaluate_model, model, data)
    if as_json:
        print(metrics.model_dump_json())
        return
    table = Table(title=f"{model} on {data}")
    for key in ("auroc", "auprc", "accuracy", "sensitivity", "specificity", "precision", "f1", "threshold"):
        table.add_row(key, f"{getattr(metrics, key):.4f}")
    table.add_row("n", str(metrics.n))
    console.print(table)


@app.command()
def predict(
    model: Annotated[Path, typer.Option("--model", help="A model directory.")],
    smiles: Annotated[str, typer.Option("--smiles", help="The compound, as SMILES.")],
    protein: Annotated[str, typer.Option("--protein", help="The target's amino-acid sequence.")],
    as_json: JsonOption = False,
) -> None:
    """The interaction probability of one compound–protein pair."""
    from repurpose.model_dir import load_model_dir
    from repurpose.pipeline import predict_pair

    loaded = _run(load_model_dir, model)
    probability = _run(predict_pair, loaded, smiles, protein)
    interacts = probability >= loaded.threshold
    if as_json:
        print(json.dumps({"probability": probability, "threshold": loaded.threshold, "interacts": bool(interacts)}))
        return
    verdict = "interacts" if interacts else "does not interact"
    console.print(f"{probability:.4f}  ({verdict} at threshold {loaded.threshold:.4f})")


def _run(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call ``function``; a domain error becomes one line on stderr and exit status 2."""
    try:
        return function(*args, **kwargs)
    except RepurposeError as error:
        errors.print(f"error: {error.message}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _progress() -> Progress:
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


def main() -> None:
    app()
