"""Retrieval evaluation: held-out files, known binders kept out of the decoys, the figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from repurpose.contracts.training import training_config
from repurpose.errors import InvalidTable
from repurpose.evaluation.retrieval import evaluate_retrieval, read_heldout, readable_decoys
from repurpose.model.directory import load_model_dir
from repurpose.training.pipeline import train_model
from tests.helpers import REPO_ROOT

PROTEIN = "MKTAYIAKQRQISFVKSHFSRQ"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
ASPIRIN_OTHER_WRITING = "OC(=O)c1ccccc1OC(C)=O"
IBUPROFEN = "CC(C)Cc1ccc(cc1)C(C)C(=O)O"
DECOYS = ["CCO", "c1ccccc1", "CCN(CC)CC", "OCC(O)CO", "CC(C)O", "c1ccncc1", "CCCCCCCC", "ClCCl"]


def heldout_csv(rows: list[str]) -> bytes:
    return ("target_id,compound_id,smiles,role,protein\n" + "".join(f"{r},{PROTEIN}\n" for r in rows)).encode()


@pytest.fixture(scope="module")
def knn_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A knn model whose only binder of PROTEIN is aspirin."""
    work = tmp_path_factory.mktemp("knn")
    pairs = "SMILES,Protein,Y\n" + "".join(
        f"{s},{PROTEIN},{y}\n" for s, y in [(ASPIRIN, 1), (IBUPROFEN, 1), ("CCO", 0), ("c1ccccc1", 0)]
    )
    (work / "train.csv").write_text(pairs)
    (work / "val.csv").write_text(pairs)
    train_model(work / "train.csv", work / "val.csv", work / "model", training_config("knn"))
    return work / "model"


def test_known_binders_are_neither_ranked_nor_decoys(knn_model: Path) -> None:
    model = load_model_dir(knn_model)
    # aspirin is a training binder: in the decoy library (written differently) it would score
    # 1.0 as a "decoy" and push the held-out active down; role=known keeps it out
    decoys = readable_decoys("decoys", [f"D{i}" for i in range(len(DECOYS) + 1)], [*DECOYS, ASPIRIN_OTHER_WRITING])
    without = read_heldout(heldout_csv([f"T1,A1,{IBUPROFEN},active"]), name="h.csv")
    with_known = read_heldout(heldout_csv([f"T1,A1,{IBUPROFEN},active", f"T1,K1,{ASPIRIN},known"]), name="h.csv")
    assert with_known.actives == 1
    assert with_known.targets[0].known_ids == frozenset({"K1"})
    counted = evaluate_retrieval(model, without, decoys).summary.targets[0]
    kept_out = evaluate_retrieval(model, with_known, decoys).summary.targets[0]
    assert counted.decoys == len(DECOYS) + 1 and kept_out.decoys == len(DECOYS)
    assert kept_out.auroc == 1.0  # ibuprofen (its own binder) above every true decoy
    assert counted.auroc < 1.0  # the aspirin "decoy" outranked it
    assert with_known.sha256 != without.sha256  # the known rows are part of the set's content


def test_actives_are_matched_to_decoys_by_canonical_smiles(knn_model: Path) -> None:
    model = load_model_dir(knn_model)
    decoys = readable_decoys("decoys", [f"D{i}" for i in range(len(DECOYS) + 1)], [*DECOYS, ASPIRIN_OTHER_WRITING])
    result = evaluate_retrieval(model, read_heldout(heldout_csv([f"T1,A1,{ASPIRIN},active"])), decoys)
    assert result.summary.targets[0].decoys == len(DECOYS)  # the decoy copy of the active left out
    assert np.isclose(result.summary.mean_auroc, 1.0)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([f"T1,A1,{ASPIRIN},maybe"], "role is active or known"),
        ([f"T1,K1,{ASPIRIN},known"], "no row with role active"),
        ([f"T1,,{ASPIRIN},active"], "empty compound_id"),
    ],
)
def test_bad_held_out_files_are_refused_with_the_reason(rows: list[str], message: str) -> None:
    with pytest.raises(InvalidTable, match=message):
        read_heldout(heldout_csv(rows))


def test_missing_columns_are_named() -> None:
    with pytest.raises(InvalidTable, match=r"missing column.*protein"):
        read_heldout(b"target_id,compound_id,smiles\nT1,A1,CCO\n")


def test_the_bundled_held_out_set_reads() -> None:
    heldout = read_heldout(REPO_ROOT / "data" / "retrieval" / "heldout.csv")
    assert len(heldout.targets) >= 10 and heldout.actives >= 300
    assert all(t.known_ids for t in heldout.targets)  # every target keeps training binders
