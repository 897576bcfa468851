"""Train the bundled union models into ``models/``: knn, xgb, rf (and DrugBAN with --drugban).

Each trains on the ``random-42`` split of the bundled union dataset (``data/union/pairs.parquet``,
built as ``repurpose up`` registers it), so the registry's lineage of a bundled union model names
exactly the rows it learned from. The held-out retrieval actives are not in that dataset at all.

    .venv/bin/python scripts/train_bundled_models.py knn xgb rf
    .venv/bin/python scripts/train_bundled_models.py drugban --epochs 6 --lr 1e-4 [--resume]

DrugBAN on the union is long on a CPU (minutes per epoch): it checkpoints every epoch under
``models/drugban-union/checkpoints`` and ``--resume`` continues after any interruption.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from repurpose.dataset_splits import split_rows
from repurpose.datasets import build_dataset
from repurpose.pairs import PairSet, pairs_from_columns
from repurpose.pipeline import CHECKPOINT_DIR, train_on_pairs
from repurpose.split_defaults import DEFAULT_SPLIT_KIND, DEFAULT_SPLIT_SEED
from repurpose.training import TrainingConfig

ROOT = Path(__file__).resolve().parents[1]
UNION = ROOT / "data" / "union" / "pairs.parquet"


def union_parts() -> tuple[PairSet, PairSet]:
    build = build_dataset(UNION, name="union")
    split = split_rows(build.rows, kind=DEFAULT_SPLIT_KIND, seed=DEFAULT_SPLIT_SEED)
    print(f"union {build.dataset_id[:12]}: {len(build.rows)} rows; train {split.train.size}, val {split.val.size}")

    def part(indices: list[int], source: str) -> PairSet:
        rows = build.rows.iloc[indices]
        return pairs_from_columns(rows["smiles"].tolist(), rows["protein"].tolist(), rows["y"].to_numpy(), source=source)

    return part(split.train.indices, "union train"), part(split.val.indices, "union val")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("types", nargs="+", choices=["knn", "xgb", "rf", "drugban"])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    train, val = union_parts()
    for model_type in args.types:
        out = ROOT / "models" / f"{model_type}-union"
        if out.exists() and not (model_type == "drugban" and args.resume):
            shutil.rmtree(out)
        if model_type == "drugban":
            config = TrainingConfig(model_type="drugban", epochs=args.epochs, lr=args.lr, seed=DEFAULT_SPLIT_SEED)
        else:
            config = TrainingConfig(model_type=model_type, seed=DEFAULT_SPLIT_SEED)
        started = time.perf_counter()
        manifest = train_on_pairs(
            train,
            val,
            out,
            config,
            resume=args.resume,
            on_epoch=lambda record: print(f"  epoch {record.epoch}: val AUROC {record.val_auroc:.4f}", flush=True),
            train_source="union train",
            val_source="union val",
        )
        shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)
        print(
            f"{model_type}-union: val AUROC {manifest.val_metrics.auroc:.4f} "
            f"in {time.perf_counter() - started:.0f} s -> {out.relative_to(ROOT)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
