"""Build the bundled broad training data and its held-out retrieval set from the team's data.

Reads ``../shared/data/dti-union/pairs.csv.gz`` (38,777 labelled pairs) and ``data/library``, and
writes, deterministically (seed 42):

    data/union/pairs.parquet      the training pairs: the union minus the held-out pairs and
                                  minus compounds DrugBAN cannot encode (over 290 heavy atoms)
    data/retrieval/heldout.csv    held-out (target, active) pairs for retrieval evaluation

The held-out set: for each of the targets below (well studied, of different families), half of
its positives among the library's DrugBank compounds, drawn at random, leave the training data;
the other half stay, so that a model still learns the target, and are listed with role
``known``: a retrieval evaluation neither ranks them nor counts them as decoys. The hold-out is
per pair: a held-out active may stay in the training data paired with other proteins. ``novel`` marks the held-out
actives whose ECFP4 Tanimoto to every training binder of the target is below 0.4: similarity
search cannot find those, a model that learned the target must.

Run it again only when the source data changes: ``.venv/bin/python scripts/build_union_data.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, RDLogger

from repurpose.data.drug_graph import parse_smiles
from repurpose.errors import InvalidSmiles
from repurpose.model.similarity import packed_fingerprints, tanimoto

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "dti-union" / "pairs.csv.gz"
LIBRARY = ROOT / "data" / "library"
SEED = 42
NOVEL_BELOW = 0.4
MIN_ACTIVES = 6  # a target needs this many DrugBank positives to be held out (half of them)

# UniProt accession: gene, family. CYPs are left out: their "binders" are substrates.
TARGETS = {
    "P00533": ("EGFR", "kinase"),
    "P35354": ("PTGS2", "enzyme"),
    "P23219": ("PTGS1", "enzyme"),
    "P03372": ("ESR1", "nuclear receptor"),
    "P04150": ("NR3C1", "nuclear receptor"),
    "P35367": ("HRH1", "GPCR"),
    "P11229": ("CHRM1", "GPCR"),
    "P08908": ("HTR1A", "GPCR"),
    "P28223": ("HTR2A", "GPCR"),
    "P07550": ("ADRB2", "GPCR"),
    "P00734": ("F2", "protease"),
    "P12821": ("ACE", "protease"),
    "P00918": ("CA2", "enzyme"),
    "P31645": ("SLC6A4", "transporter"),
}


def canonical(smiles: str) -> str | None:
    mol = Chem.MolFromSmiles(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def encodable(smiles: str) -> bool:
    try:
        parse_smiles(smiles)
    except InvalidSmiles:
        return False
    return True


def main() -> None:
    RDLogger.DisableLog("rdApp.*")
    union = pd.read_csv(SOURCE)
    union["canonical"] = union["SMILES"].map(canonical)
    keep = union["canonical"].notna() & union["SMILES"].map(encodable)
    dropped = int((~keep).sum())
    union = union[keep].reset_index(drop=True)

    library = pd.read_csv(LIBRARY / "compounds.csv")
    drugbank = library[library["compound_id"].str.startswith("DB")].copy()
    drugbank["canonical"] = drugbank["smiles"].map(canonical)
    drug_id = dict(zip(drugbank["canonical"], drugbank["compound_id"], strict=True))
    library_id = dict(zip(library["smiles"].map(canonical), library["compound_id"], strict=True))
    proteins = pd.read_csv(LIBRARY / "targets.csv")
    sequence_of = dict(zip(proteins["gene"], proteins["sequence"], strict=True))

    rng = np.random.default_rng(SEED)
    held_rows: list[int] = []
    heldout: list[dict[str, object]] = []
    for accession, (gene, family) in TARGETS.items():
        sequence = sequence_of[accession]
        positives = union[(union["Protein"] == sequence) & (union["Y"] == 1)]
        drugs = positives[positives["canonical"].isin(drug_id.keys())]
        if len(drugs) < MIN_ACTIVES:
            sys.exit(f"{accession} ({gene}) has {len(drugs)} DrugBank positives, fewer than {MIN_ACTIVES}")
        chosen = rng.permutation(drugs.index.to_numpy())[: len(drugs) // 2]
        held_rows.extend(chosen.tolist())
        training_binders = positives.drop(index=chosen)
        held = union.loc[sorted(chosen)]
        similarity = tanimoto(
            packed_fingerprints(held["SMILES"].tolist()), packed_fingerprints(training_binders["SMILES"].tolist())
        ).max(axis=1)
        for (_, row), nearest in zip(held.iterrows(), similarity.tolist(), strict=True):
            heldout.append(
                {
                    "target_id": accession,
                    "gene": gene,
                    "family": family,
                    "compound_id": drug_id[row["canonical"]],
                    "smiles": row["SMILES"],
                    "nearest_training_tanimoto": round(float(nearest), 4),
                    "novel": bool(nearest < NOVEL_BELOW),
                    "role": "active",
                    "protein": sequence,
                }
            )
        for _, row in training_binders.drop_duplicates("canonical").iterrows():
            heldout.append(
                {
                    "target_id": accession,
                    "gene": gene,
                    "family": family,
                    "compound_id": library_id.get(row["canonical"], f"union-{row.name}"),
                    "smiles": row["SMILES"],
                    "nearest_training_tanimoto": 1.0,
                    "novel": False,
                    "role": "known",
                    "protein": sequence,
                }
            )
        print(
            f"{accession} {gene:7s} {family:17s} positives {len(positives):4d}  "
            f"drugs {len(drugs):3d}  held {len(chosen)}"
        )

    training = union.drop(index=held_rows)[["SMILES", "Protein", "Y", "source"]]
    (ROOT / "data" / "union").mkdir(parents=True, exist_ok=True)
    training.to_parquet(ROOT / "data" / "union" / "pairs.parquet", index=False, compression="zstd")
    (ROOT / "data" / "retrieval").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(heldout).to_csv(ROOT / "data" / "retrieval" / "heldout.csv", index=False, lineterminator="\n")
    novel = sum(bool(h["novel"]) for h in heldout if h["role"] == "active")
    actives = sum(h["role"] == "active" for h in heldout)
    print(
        f"training pairs {len(training)} (dropped {dropped} unencodable, {len(held_rows)} held out); "
        f"held-out actives {actives} over {len(TARGETS)} targets, {novel} novel chemotypes"
    )


if __name__ == "__main__":
    main()
