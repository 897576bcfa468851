"""Train the bundled union models into ``models/``: knn, xgb, rf, ensemble (and DrugBAN).

Each trains on the ``random-42`` split of the bundled union dataset (``data/union/pairs.parquet``,
built as ``repurpose up`` registers it), so the registry's lineage of a bundled union model names
exactly the rows it learned from. The held-out retrieval actives are not in that dataset at all.

    .venv/bin/python scripts/train_bundled_models.py knn xgb
    .venv/bin/python scripts/train_bundled_models.py rf --trees 200 --min-leaf 3
    .venv/bin/python scripts/train_bundled_models.py ensemble [--members knn,xgb]
    .venv/bin/python scripts/train_bundled_models.py drugban --epochs 6 --lr 1e-4 [--resume]

DrugBAN on the union is long on a CPU (minutes per epoch): it checkpoints every epoch under
``models/drugban-union/checkpoints`` and ``--resume`` continues after any interruption. An
ensemble trains its own members (into ``models/ensemble-union/members/``) on the same split.

After training, each model is evaluated on the held-out retrieval set
(``data/retrieval/heldout.csv``: its actives ranked among the DrugBank compounds of
``data/library/compounds.csv``) and the result written to ``<model dir>/retrieval.json``:
``repurpose up`` puts the bundled model with the best mean BEDROC in production.
``--retrieval-only`` (re)writes that file for model directories that exist, without training:
the given types' union models, or with no type every model directory under ``models/`` (the
Human ones too, so that every bundled model is compared on the same set):

    .venv/bin/python scripts/train_bundled_models.py --retrieval-only
    .venv/bin/python scripts/train_bundled_models.py --retrieval-only knn xgb
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from repurpose.cluster.bundled_models import RETRIEVAL_FILE
from repurpose.contracts.splits import DEFAULT_SPLIT_KIND, DEFAULT_SPLIT_SEED
from repurpose.contracts.training import ForestTraining, training_config
from repurpose.data.datasets import build_dataset
from repurpose.data.pairs import PairSet, pairs_from_columns
from repurpose.data.splits import split_rows
from repurpose.evaluation.retrieval import DecoyLibrary, HeldOutSet, drugbank_decoys, evaluate_retrieval, read_heldout
from repurpose.model.directory import MANIFEST, load_model_dir
from repurpose.training.pipeline import CHECKPOINT_DIR, train_on_pairs

ROOT = Path(__file__).resolve().parents[1]
UNION = ROOT / "data" / "union" / "pairs.parquet"
HELDOUT = ROOT / "data" / "retrieval" / "heldout.csv"
LIBRARY = ROOT / "data" / "library" / "compounds.csv"
TYPES = ("knn", "xgb", "rf", "drugban", "ensemble")


def union_parts() -> tuple[PairSet, PairSet]:
    build = build_dataset(UNION, name="union")
    split = split_rows(build.rows, kind=DEFAULT_SPLIT_KIND, seed=DEFAULT_SPLIT_SEED)
    print(f"union {build.dataset_id[:12]}: {len(build.rows)} rows; train {split.train.size}, val {split.val.size}")

    def part(indices: list[int], source: str) -> PairSet:
        rows = build.rows.iloc[indices]
        return pairs_from_columns(
            rows["smiles"].tolist(), rows["protein"].tolist(), rows["y"].to_numpy(), source=source
        )

    return part(split.train.indices, "union train"), part(split.val.indices, "union val")


def write_retrieval(directory: Path, heldout: HeldOutSet, decoys: DecoyLibrary) -> None:
    """Evaluate the model directory on the held-out set and write its ``retrieval.json``."""
    started = time.perf_counter()
    result = evaluate_retrieval(load_model_dir(directory), heldout, decoys)
    temporary = directory / f".{RETRIEVAL_FILE}.tmp"  # hidden: never published with the model
    temporary.write_text(result.model_dump_json(indent=2) + "\n")
    temporary.replace(directory / RETRIEVAL_FILE)
    summary, novel = result.summary, result.novel
    novel_text = f"; novel AUROC {novel.mean_auroc:.3f}, BEDROC {novel.mean_bedroc:.3f}" if novel is not None else ""
    print(
        f"{directory.name}: retrieval over {len(summary.targets)} targets: mean BEDROC {summary.mean_bedroc:.3f}, "
        f"AUROC {summary.mean_auroc:.3f}, EF1% {summary.mean_ef1:.1f}{novel_text} "
        f"in {time.perf_counter() - started:.0f} s -> {directory / RETRIEVAL_FILE}",
        flush=True,
    )


def retrieval_only(models_dir: Path, types: list[str]) -> None:
    """(Re)write ``retrieval.json`` of existing model directories: the types' union models, or all."""
    if types:
        directories = [models_dir / f"{model_type}-union" for model_type in types]
        missing = [d for d in directories if not (d / MANIFEST).is_file()]
        if missing:
            raise SystemExit(f"error: no finished model directory at {', '.join(map(str, missing))}: train it first")
    else:
        directories = sorted(p for p in models_dir.iterdir() if (p / MANIFEST).is_file())
    heldout, decoys = read_heldout(HELDOUT), drugbank_decoys(LIBRARY)
    for directory in directories:
        write_retrieval(directory, heldout, decoys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # no `choices`: argparse refuses an empty list against them (nargs="*")
    parser.add_argument("types", nargs="*", help=f"model types: {', '.join(TYPES)}")
    parser.add_argument(
        "--retrieval-only",
        action="store_true",
        help="only (re)write retrieval.json of existing model directories (no type: all of them)",
    )
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models", help="where the model directories are")
    parser.add_argument("--members", default="knn,xgb", help="the ensemble's member types (default knn,xgb)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--resume", action="store_true")
    # a forest of 500 fully grown trees on the union is ~60 MB even compressed: too big to ship
    parser.add_argument("--trees", type=int, default=None, help="rf: number of trees (default: the type's)")
    parser.add_argument("--min-leaf", type=int, default=None, help="rf: min samples per leaf (default: the type's)")
    args = parser.parse_args()
    unknown = [t for t in args.types if t not in TYPES]
    if unknown:
        parser.error(f"unknown model type {unknown[0]!r}: choose from {', '.join(TYPES)}")
    if args.retrieval_only:
        retrieval_only(args.models_dir, args.types)
        return
    if not args.types:
        parser.error("name the model types to train (or pass --retrieval-only)")
    train, val = union_parts()
    heldout, decoys = read_heldout(HELDOUT), drugbank_decoys(LIBRARY)
    for model_type in args.types:
        out = args.models_dir / f"{model_type}-union"
        members = args.members.split(",") if model_type == "ensemble" else None
        trains_drugban = model_type == "drugban" or "drugban" in (members or [])
        if out.exists() and not (trains_drugban and args.resume):
            shutil.rmtree(out)
        drugban = {"epochs": args.epochs, "lr": args.lr} if trains_drugban else {}
        seed = None if model_type == "knn" else DEFAULT_SPLIT_SEED
        config = training_config(model_type, seed=seed, members=members, **drugban)
        if isinstance(config, ForestTraining):
            forest = {"n_estimators": args.trees, "min_samples_leaf": args.min_leaf}
            config = config.model_copy(update={k: v for k, v in forest.items() if v is not None})
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
            f"in {time.perf_counter() - started:.0f} s -> {out}",
            flush=True,
        )
        write_retrieval(out, heldout, decoys)


if __name__ == "__main__":
    main()
