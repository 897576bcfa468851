"""The promotion gates: a floor, and no regression against production on the same evaluation set."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import pytest

from repurpose.actors.promotion_gates import gate_failures
from repurpose.contracts.classification import BinaryMetrics
from repurpose.contracts.manifest import Manifest
from repurpose.contracts.models import ModelEvaluation
from repurpose.contracts.retrieval import RetrievalResult, RetrievalSummary, TargetRetrieval
from repurpose.settings import Settings
from tests.helpers import REPO_ROOT

MANIFEST = Manifest.model_validate_json((REPO_ROOT / "models" / "drugban-human" / "manifest.json").read_text())
SETTINGS = Settings(promotion_min_auroc=0.7, promotion_max_auroc_drop=0.02, promotion_max_retrieval_drop=0.02)


@dataclasses.dataclass(frozen=True)
class Version:
    version: int
    manifest: Manifest
    evaluations: Sequence[ModelEvaluation] = ()
    retrieval: Sequence[RetrievalResult] = ()


def version(number: int, val_auroc: float, val_sha: str = "val-a", **kwargs: object) -> Version:
    manifest = MANIFEST.model_copy(deep=True)
    manifest.val_metrics.auroc = val_auroc
    manifest.val_data_sha256 = val_sha
    return Version(number, manifest, **kwargs)  # type: ignore[arg-type]


def evaluation(
    auroc: float, dataset: str = "d" * 64, split: str | None = "random-42", part: str = "test", **kw: object
) -> ModelEvaluation:
    metrics = BinaryMetrics(
        auroc=auroc,
        auprc=0.5,
        accuracy=0.5,
        sensitivity=0.5,
        specificity=0.5,
        precision=0.5,
        f1=0.5,
        threshold=0.5,
        n=40,
    )
    return ModelEvaluation(
        dataset_id=dataset, split_id=split, part=part, metrics=metrics, evaluated_at=dt.datetime.now(dt.UTC), **kw
    )


def retrieval(
    bedroc: float, auroc: float, heldout_sha: str | None = "h1", decoys_sha: str | None = "d1"
) -> RetrievalResult:
    target = TargetRetrieval(target="P00533", actives=5, decoys=100, auroc=auroc, ef1=10.0, ef5=5.0, bedroc=bedroc)
    summary = RetrievalSummary(targets=[target], mean_auroc=auroc, mean_ef1=10.0, mean_ef5=5.0, mean_bedroc=bedroc)
    return RetrievalResult(
        heldout="heldout.csv",
        decoys="DrugBank compounds of compounds.csv",
        heldout_sha256=heldout_sha,
        decoys_sha256=decoys_sha,
        decoy_count=100,
        actives=5,
        summary=summary,
    )


def test_without_production_only_the_floor_applies() -> None:
    assert gate_failures("m", version(2, 0.9, "other"), None, SETTINGS) == []
    (low,) = gate_failures("m", version(2, 0.6), None, SETTINGS)
    assert low == "its validation AUROC 0.6000 is below the minimum 0.7000 (promotion_min_auroc)"
    assert gate_failures("m", version(2, float("nan")), None, SETTINGS) == ["it has no validation AUROC (not a number)"]


def test_the_same_validation_pairs_compare() -> None:
    champion = version(1, 0.95)
    assert gate_failures("m", version(2, 0.94), champion, SETTINGS) == []
    (drop,) = gate_failures("m", version(2, 0.90), champion, SETTINGS)
    assert drop == (
        "on the validation pairs both were validated on, its AUROC 0.9000 is 0.0500 below production version 1's "
        "0.9500, more than the 0.0200 allowed (promotion_max_auroc_drop)"
    )


def test_different_validation_pairs_and_no_common_evaluation_are_refused() -> None:
    champion = version(1, 0.80, "val-600-pair-file", evaluations=[evaluation(0.9, split="random-1")])
    candidate = version(2, 0.99, "val-420-pairs-of-a-split", evaluations=[evaluation(0.95)])

    (refusal,) = gate_failures("dti", candidate, champion, SETTINGS)

    assert refusal.startswith("it was never evaluated on the same rows as production version 1")
    assert "`repurpose models evaluate dti VERSION --dataset ID`, or `--retrieval FILE`" in refusal


def test_evaluations_on_the_same_rows_compare() -> None:
    champion = version(1, 0.99, "x", evaluations=[evaluation(0.93), evaluation(0.80, split=None, part="all")])
    better = version(2, 0.80, "y", evaluations=[evaluation(0.92), evaluation(0.60, split="random-1")])
    assert gate_failures("m", better, champion, SETTINGS) == []  # 0.01 below on the shared test part

    worse = version(3, 0.99, "y", evaluations=[evaluation(0.85), evaluation(0.70, split=None, part="all")])
    failures = gate_failures("m", worse, champion, SETTINGS)
    assert failures == [
        f"on dataset {'d' * 12} (part test of split random-42) its AUROC 0.8500 is 0.0800 below production version "
        "1's 0.9300, more than the 0.0200 allowed (promotion_max_auroc_drop)",
        f"on dataset {'d' * 12} (every row) its AUROC 0.7000 is 0.1000 below production version 1's 0.8000, "
        "more than the 0.0200 allowed (promotion_max_auroc_drop)",
    ]


def test_evaluations_holding_training_rows_do_not_count() -> None:
    champion = version(1, 0.9, "x", evaluations=[evaluation(0.93)])
    candidate = version(2, 0.9, "y", evaluations=[evaluation(0.99, training_overlap=12)])
    (refusal,) = gate_failures("m", candidate, champion, SETTINGS)
    assert "never evaluated on the same rows" in refusal
    unchecked = version(2, 0.9, "y", evaluations=[evaluation(0.99, training_overlap=None)])
    assert gate_failures("m", unchecked, champion, SETTINGS) == []  # not known to overlap: it counts


def test_retrieval_on_the_same_held_out_set_compares_bedroc_and_auroc() -> None:
    champion = version(1, 0.9, "x", retrieval=[retrieval(bedroc=0.60, auroc=0.95)])
    assert gate_failures("m", version(2, 0.9, "y", retrieval=[retrieval(0.59, 0.94)]), champion, SETTINGS) == []

    failures = gate_failures("m", version(2, 0.9, "y", retrieval=[retrieval(0.40, 0.90)]), champion, SETTINGS)

    assert failures == [
        "on held-out set heldout.csv (decoys: DrugBank compounds of compounds.csv) its retrieval mean BEDROC 0.4000 "
        "is 0.2000 below production version 1's 0.6000, more than the 0.0200 allowed (promotion_max_retrieval_drop)",
        "on held-out set heldout.csv (decoys: DrugBank compounds of compounds.csv) its retrieval mean AUROC 0.9000 "
        "is 0.0500 below production version 1's 0.9500, more than the 0.0200 allowed (promotion_max_retrieval_drop)",
    ]
    looser = SETTINGS.with_overrides(promotion_max_retrieval_drop=0.25)
    assert gate_failures("m", version(2, 0.9, "y", retrieval=[retrieval(0.40, 0.90)]), champion, looser) == []


@pytest.mark.parametrize(
    ("heldout_sha", "decoys_sha"),
    [("h2", "d1"), ("h1", "d2"), (None, None)],
    ids=["other-set", "other-decoys", "no-hash"],
)
def test_retrieval_on_another_set_does_not_compare(heldout_sha: str | None, decoys_sha: str | None) -> None:
    champion = version(1, 0.9, "x", retrieval=[retrieval(0.60, 0.95)])
    candidate = version(2, 0.9, "y", retrieval=[retrieval(0.10, 0.50, heldout_sha, decoys_sha)])
    (refusal,) = gate_failures("m", candidate, champion, SETTINGS)
    assert "never evaluated on the same rows" in refusal


def test_retrieval_without_content_hashes_compares_by_name() -> None:
    champion = version(1, 0.9, "x", retrieval=[retrieval(0.60, 0.95, None, None)])
    (drop, _) = gate_failures(
        "m", version(2, 0.9, "y", retrieval=[retrieval(0.1, 0.5, None, None)]), champion, SETTINGS
    )
    assert "retrieval mean BEDROC 0.1000 is 0.5000 below" in drop
