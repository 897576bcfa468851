"""``repurpose train``: a model directory from pair files, on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from repurpose.cli.output import console, progress_bar, run_or_exit
from repurpose.training import EpochRecord, ModelType, TrainingConfig
from repurpose.training import Progress as TrainingProgress


def register(app: typer.Typer) -> None:
    app.command()(train)


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
            progress.update(task, description=f"fitting {model_type}")
        manifest = run_or_exit(
            train_model, train_file, val_file, out, config, resume=resume, on_progress=on_progress, on_epoch=on_epoch
        )
    m = manifest.val_metrics
    console.print(
        f"wrote {out}  ({model_type}; val AUROC {m.auroc:.4f}, AUPRC {m.auprc:.4f}, threshold {m.threshold:.4f}"
        + (f", best epoch {manifest.best_epoch})" if manifest.best_epoch else ")")
    )
