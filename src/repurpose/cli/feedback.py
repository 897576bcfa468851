"""``repurpose feedback FILE``: measured outcomes of pairs, for a model version's live quality."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from repurpose.cli.connect import KeyOption, UrlOption, open_client
from repurpose.cli.home import HomeOption
from repurpose.cli.monitoring import print_quality
from repurpose.cli.output import JsonOption, fail, print_json, read_capped, run_or_exit, say
from repurpose.contracts.datasets import MAX_DATASET_BYTES
from repurpose.contracts.feedback import FeedbackReceipt
from repurpose.contracts.models import check_model_name, parse_version_ref


def register(app: typer.Typer) -> None:
    app.command("feedback")(feedback_command)


def feedback_command(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet with the columns SMILES, Protein (or Target), Y (0/1).")],
    model: Annotated[
        str | None, typer.Option("--model", help="A registered model name (default: the default model).")
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="A version number, latest or a stage (default: production, else the latest)."),
    ] = None,
    batch_id: Annotated[
        str | None,
        typer.Option("--batch-id", help="Names the batch: sent again, it counts once (default: its content's hash)."),
    ] = None,
    home: HomeOption = None,
    url: UrlOption = None,
    key: KeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send measured outcomes: each pair is scored by the model version and kept with its label; prints
    the version's live quality (AUROC, Brier score, reliability bins)."""
    if model is not None:
        run_or_exit(check_model_name, model)
    if version is not None:
        run_or_exit(parse_version_ref, version)
    if not file.is_file():
        raise fail(f"{file}: no such file")
    data = read_capped(file, MAX_DATASET_BYTES, "accepted; split the file")
    with contextlib.closing(open_client(url, key, home)) as client:
        receipt: FeedbackReceipt = run_or_exit(client.send_feedback, data, file.name, model, version, batch_id)
    if as_json:
        print_json(receipt)
        return
    what = "recorded" if receipt.recorded else "already recorded (nothing counted again)"
    say(
        f"{what}: {receipt.outcomes:,} outcomes ({receipt.positives:,} positive) for {receipt.model} "
        f"v{receipt.version}, batch {receipt.batch_id[:16]}"
    )
    print_quality(receipt.quality)
