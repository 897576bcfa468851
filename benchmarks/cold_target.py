"""Cold-target AUROC on the union: how a model type does on proteins it never saw in training.

Trains each model type given (default: knn and xgb; DrugBAN is too slow for a CPU benchmark)
on the train part of the union's ``cold-target-42`` split (the split ``repurpose up`` makes for
the bundled union dataset: no protein of the test part is in the train part), picks what it
picks on the val part, and scores the test part. A knn model can say nothing about a protein
with no known binder (it scores 0 everywhere there), so its cold-target AUROC measures only
what the other proteins' binders say: expect chance. That is the point of the figure.

    .venv/bin/python benchmarks/cold_target.py [TYPE ...]

Prints a table, then one JSON line of the figures. Nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from repurpose.contracts.training import ForestTraining, training_config
from repurpose.data.datasets import build_dataset
from repurpose.data.pairs import PairSet, pairs_from_columns
from repurpose.data.splits import split_rows
from repurpose.evaluation.classification_metrics import binary_metrics
from repurpose.model.directory import load_model_dir
from repurpose.training.pipeline import train_on_pairs

ROOT = Path(__file__).resolve().parents[1]
UNION = ROOT / "data" / "union" / "pairs.parquet"
SPLIT_KIND = "cold-target"
SPLIT_SEED = 42


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("types", nargs="*", default=["knn", "xgb"], choices=["knn", "xgb", "rf", "ensemble"])
    # the bundled rf-union is a smaller forest than the type's default (see scripts/train_bundled_models.py)
    parser.add_argument("--trees", type=int, default=None, help="rf: number of trees (default: the type's)")
    parser.add_argument("--min-leaf", type=int, default=None, help="rf: min samples per leaf (default: the type's)")
    args = parser.parse_args()
    build = build_dataset(UNION, name="union")
    split = split_rows(build.rows, kind=SPLIT_KIND, seed=SPLIT_SEED)

    def part(indices: list[int], source: str) -> PairSet:
        rows = build.rows.iloc[indices]
        return pairs_from_columns(
            rows["smiles"].tolist(), rows["protein"].tolist(), rows["y"].to_numpy(), source=source
        )

    train = part(split.train.indices, "cold-target train")
    val = part(split.val.indices, "cold-target val")
    test = part(split.test.indices, "cold-target test")
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as work:
        for model_type in args.types:
            started = time.perf_counter()
            out = Path(work) / model_type
            config = training_config(model_type)
            if isinstance(config, ForestTraining):
                forest = {"n_estimators": args.trees, "min_samples_leaf": args.min_leaf}
                config = config.model_copy(update={k: v for k, v in forest.items() if v is not None})
            train_on_pairs(train, val, out, config, evidence=False)
            model = load_model_dir(out)
            assert test.labels is not None
            metrics = binary_metrics(test.labels, model.predict(test), model.threshold)
            figures[model_type] = {
                "auroc": metrics.auroc,
                "auprc": metrics.auprc,
                "seconds": time.perf_counter() - started,
            }

    table = Table(title=f"cold-target AUROC on the union ({SPLIT_KIND}-{SPLIT_SEED})")
    for column in ("model type", "test AUROC", "test AUPRC", "train + score s"):
        table.add_column(column, justify="left" if column == "model type" else "right")
    for model_type, row in figures.items():
        table.add_row(model_type, f"{row['auroc']:.3f}", f"{row['auprc']:.3f}", f"{row['seconds']:.0f}")
    console = Console(markup=False, emoji=False)
    console.print(
        f"train {split.train.size} pairs ({split.train.groups} proteins), val {split.val.size}, "
        f"test {split.test.size} pairs ({split.test.groups} proteins, none seen in training)"
    )
    console.print(table)
    print(json.dumps({"split": f"{SPLIT_KIND}-{SPLIT_SEED}", "test_pairs": split.test.size, "models": figures}))


if __name__ == "__main__":
    main()
