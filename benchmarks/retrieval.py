"""Retrieval of every model side by side: do a target's known drugs rank above the other drugs?

Each model directory given (default: every complete one under models/) ranks the held-out
(target, active) pairs of data/retrieval/heldout.csv among the DrugBank compounds of
data/library/compounds.csv (``repurpose.evaluation.retrieval``, what `repurpose models
evaluate --retrieval` runs on the cluster), and the table shows per model the means over the
targets of AUROC, enrichment at 1 % and 5 % and BEDROC (alpha 20); the same for the novel
chemotypes only (actives unlike every training binder of their target: similarity search
cannot find them); and the pairs per second of the library scoring (every compound against
every target, featurisation included, by the model type's fastest exact path).

    .venv/bin/python benchmarks/retrieval.py [MODEL_DIR ...] [--heldout FILE] [--library FILE]

Prints a table, then one JSON line of the figures. Nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from repurpose.errors import ModelDirectoryError
from repurpose.evaluation.retrieval import (
    DecoyLibrary,
    HeldOutSet,
    LibraryScorer,
    drugbank_decoys,
    evaluate_retrieval,
    library_scorer,
    read_heldout,
)
from repurpose.model.directory import MANIFEST, load_model_dir

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
HELDOUT = ROOT / "data" / "retrieval" / "heldout.csv"
LIBRARY = ROOT / "data" / "library" / "compounds.csv"


class TimedScorer:
    """A model's library scorer that adds up the seconds spent scoring (not ranking or metrics)."""

    def __init__(self, score: LibraryScorer) -> None:
        self.score = score
        self.seconds = 0.0
        self.pairs = 0

    def __call__(self, sequence: str, smiles: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        scores = self.score(sequence, smiles)
        self.seconds += time.perf_counter() - started
        self.pairs += len(smiles)
        return scores


def model_figures(directory: Path, heldout: HeldOutSet, decoys: DecoyLibrary) -> dict[str, Any]:
    model = load_model_dir(directory)
    timed = TimedScorer(library_scorer(model))
    started = time.perf_counter()
    result = evaluate_retrieval(model, heldout, decoys, scorer=timed)
    seconds = time.perf_counter() - started
    figures: dict[str, Any] = {
        "model_type": model.manifest.model_type,
        "mean_auroc": result.summary.mean_auroc,
        "mean_ef1": result.summary.mean_ef1,
        "mean_ef5": result.summary.mean_ef5,
        "mean_bedroc": result.summary.mean_bedroc,
        "seconds": seconds,
        "pairs": timed.pairs,
        "pairs_per_second": timed.pairs / timed.seconds,  # featurisation included: each compound once
        "unscored": result.unscored,
    }
    if result.novel is not None:
        figures |= {
            "novel_mean_auroc": result.novel.mean_auroc,
            "novel_mean_ef1": result.novel.mean_ef1,
            "novel_mean_bedroc": result.novel.mean_bedroc,
        }
    return figures


def model_dirs(given: list[Path]) -> list[Path]:
    if given:
        return given
    return sorted(d for d in MODELS.iterdir() if (d / MANIFEST).is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, help="model directories (default: every one under models/)")
    parser.add_argument("--heldout", type=Path, default=HELDOUT, help="the held-out (target, active) pairs")
    parser.add_argument("--library", type=Path, default=LIBRARY, help="the library whose DrugBank compounds are decoys")
    args = parser.parse_args()

    errors = Console(stderr=True)
    heldout = read_heldout(args.heldout)
    decoys = drugbank_decoys(args.library)
    errors.print(
        f"{heldout.name}: {heldout.actives} actives of {len(heldout.targets)} targets among {len(decoys.smiles):,} "
        f"decoys ({decoys.name}; {decoys.dropped} unreadable left out)",
        highlight=False,
    )
    figures: dict[str, dict[str, Any]] = {}
    for directory in model_dirs(args.models):
        try:
            figures[directory.name] = model_figures(directory, heldout, decoys)
        except ModelDirectoryError as error:  # e.g. one still training: its manifest is written last
            errors.print(f"skipped {directory.name}: {error}", highlight=False)
            continue
        errors.print(f"{directory.name}: {figures[directory.name]['seconds']:.1f} s", highlight=False)

    table = Table(
        title=f"retrieval on {heldout.name} ({heldout.actives} actives, {len(heldout.targets)} targets) among "
        f"{len(decoys.smiles):,} DrugBank decoys, {torch.get_num_threads()} threads"
    )
    table.add_column("model", no_wrap=True)
    for label in ("AUROC", "EF1 %", "EF5 %", "BEDROC", "novel AUROC", "novel EF1 %", "novel BEDROC"):
        table.add_column(label, justify="right")
    table.add_column("pairs/s", justify="right", no_wrap=True)
    for name, f in figures.items():
        table.add_row(
            name,
            f"{f['mean_auroc']:.3f}",
            f"{f['mean_ef1']:.1f}",
            f"{f['mean_ef5']:.1f}",
            f"{f['mean_bedroc']:.3f}",
            f"{f['novel_mean_auroc']:.3f}" if "novel_mean_auroc" in f else "-",
            f"{f['novel_mean_ef1']:.1f}" if "novel_mean_ef1" in f else "-",
            f"{f['novel_mean_bedroc']:.3f}" if "novel_mean_bedroc" in f else "-",
            f"{f['pairs_per_second']:,.0f}",
        )
    console = Console()
    Console(width=max(console.width, 110)).print(table)  # a pipe's 80 columns would cut the figures
    print(
        json.dumps(
            {
                "heldout": heldout.name,
                "actives": heldout.actives,
                "targets": len(heldout.targets),
                "decoys": len(decoys.smiles),
                "threads": torch.get_num_threads(),
                "models": figures,
            }
        )
    )


if __name__ == "__main__":
    main()
