"""Bit or count fingerprints for the knn model: which ranks held-out drugs better?

The knn model scores a compound by its ECFP4 Tanimoto to a target's known binders. ECFP4 comes
as bits (a substructure is there or not) or as counts (how often it is there; Tanimoto then is
sum(min) / sum(max)). This ranks the held-out actives of data/retrieval/heldout.csv among the
DrugBank decoys with the union's training binders of each target, by the nearest binder (max)
and the mean of the 3 nearest, both ways, and prints the means of AUROC, EF 1 % and BEDROC, then
one JSON line. Nothing here is asserted by the tests.

    .venv/bin/python benchmarks/knn_fingerprints.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from rich.console import Console
from rich.table import Table

from repurpose.contracts.targets import normalize_protein
from repurpose.evaluation.retrieval import canonical_smiles, drugbank_decoys, read_heldout
from repurpose.evaluation.retrieval_metrics import summarise, target_retrieval

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
Fingerprint = Callable[[Chem.Mol], object]
KINDS: dict[str, Fingerprint] = {
    "bits": GENERATOR.GetFingerprint,
    "counts": GENERATOR.GetCountFingerprint,
}


def fingerprints(smiles: Sequence[str], kind: str) -> list[object]:
    return [KINDS[kind](Chem.MolFromSmiles(s)) for s in smiles]


def main() -> None:
    heldout = read_heldout(ROOT / "data" / "retrieval" / "heldout.csv")
    decoys = drugbank_decoys(ROOT / "data" / "library" / "compounds.csv")
    union = pd.read_parquet(ROOT / "data" / "union" / "pairs.parquet")
    union["sequence"] = union["Protein"].map(normalize_protein)
    decoy_canonical = [canonical_smiles(s) for s in decoys.smiles]
    figures: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        started = time.perf_counter()
        decoy_prints = fingerprints(decoys.smiles, kind)
        per_rule: dict[str, list] = {"max": [], "top3": []}
        for target in heldout.targets:
            binders = union[(union["sequence"] == target.sequence) & (union["Y"] == 1)]["SMILES"].unique().tolist()
            binder_prints = fingerprints(binders, kind)
            excluded = {canonical_smiles(s) for s in target.smiles} | target.known_smiles
            keep = [i for i, s in enumerate(decoy_canonical) if s not in excluded]
            library = [decoy_prints[i] for i in keep] + fingerprints(target.smiles, kind)
            similarity = np.array([DataStructs.BulkTanimotoSimilarity(fp, binder_prints) for fp in library])
            is_active = np.zeros(len(library), dtype=bool)
            is_active[len(keep) :] = True
            top3 = np.sort(similarity, axis=1)[:, -3:].mean(axis=1)
            per_rule["max"].append(target_retrieval(target.target_id, similarity.max(axis=1), is_active))
            per_rule["top3"].append(target_retrieval(target.target_id, top3, is_active))
        seconds = time.perf_counter() - started
        for rule, targets in per_rule.items():
            summary = summarise(targets)
            figures[f"{kind}/{rule}"] = {
                "auroc": summary.mean_auroc,
                "ef1": summary.mean_ef1,
                "ef5": summary.mean_ef5,
                "bedroc": summary.mean_bedroc,
                "seconds": seconds,
            }

    table = Table(title=f"knn fingerprints: {heldout.actives} held-out actives of {len(heldout.targets)} targets")
    for column in ("fingerprint / rule", "AUROC", "EF 1 %", "EF 5 %", "BEDROC"):
        table.add_column(column, justify="left" if column.startswith("fingerprint") else "right")
    for name, row in figures.items():
        table.add_row(name, f"{row['auroc']:.3f}", f"{row['ef1']:.1f}", f"{row['ef5']:.1f}", f"{row['bedroc']:.3f}")
    Console(markup=False, emoji=False).print(table)
    print(json.dumps({"heldout_actives": heldout.actives, "targets": len(heldout.targets), "figures": figures}))


if __name__ == "__main__":
    main()
