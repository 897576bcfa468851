"""Add the training evidence files to model directories trained before training wrote them.

Training now writes ``binders.parquet`` and ``training_compounds.parquet`` into every model
directory (``repurpose.model.evidence``): the nearest known binder and the applicability
domain beside every hit come from them. The bundled Human models were trained before that, on
``data/human/random/train.csv``; this adds the files from that file, after checking that it is
the very file each model learned from (its sha256 of the normalised rows, in the manifest).

    .venv/bin/python scripts/add_training_evidence.py                       # the bundled Human models
    .venv/bin/python scripts/add_training_evidence.py models/x --train data/x/train.csv

A directory's content address changes with the new files: a cluster registers it as a new
version of its name on the next ``repurpose up`` (an existing cluster keeps the old version).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repurpose.contracts.manifest import Manifest
from repurpose.data.pairs import read_pairs
from repurpose.model.directory import MANIFEST
from repurpose.model.evidence import record_training_evidence

ROOT = Path(__file__).resolve().parents[1]
HUMAN_TRAIN = ROOT / "data" / "human" / "random" / "train.csv"
BUNDLED_HUMAN = [ROOT / "models" / name for name in ("drugban-human", "rf-human", "xgb-human")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", type=Path, help="model directories (default: the bundled Human ones)")
    parser.add_argument("--train", type=Path, default=HUMAN_TRAIN, help="their training pairs (SMILES,Protein,Y)")
    args = parser.parse_args()
    train = read_pairs(args.train)
    for directory in args.models or BUNDLED_HUMAN:
        manifest = Manifest.model_validate_json((directory / MANIFEST).read_text())
        if manifest.train_data_sha256 != train.sha256:
            print(f"{directory}: was not trained on {args.train} (sha256 differs); left as it is", file=sys.stderr)
            return 1
        evidence = record_training_evidence(directory, train)
        assert evidence.compounds is not None
        binders, proteins = sum(len(b) for b in evidence.binders.values()), len(evidence.binders)
        print(f"{directory}: {len(evidence.compounds)} training compounds, {binders} binders of {proteins} proteins")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
