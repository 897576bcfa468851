"""The metric gates a version passes to reach production: a floor, and no regression against the
version in production *on the same evaluation set*.

A figure means something only next to a figure on the same rows: a candidate's AUROC on 420
validation pairs of one split says nothing against the production version's on another
600-pair file. So the regression gates compare the two versions only where both were measured
on the same set:

- their validation pairs, when both were validated on the same ones (equal ``val_data_sha256``
  in their manifests, e.g. retrained on the same split);
- registry evaluations on the same dataset version, split and part (``models evaluate
  --dataset``), where neither counted training rows of its version (such figures overstate it);
- retrieval evaluations on the same held-out set and decoys (``models evaluate --retrieval``;
  the same content, whatever the files' names): neither mean BEDROC nor mean AUROC may fall more
  than ``settings.promotion_max_retrieval_drop`` below production's.

On every common dataset evaluation the AUROC may fall at most ``promotion_max_auroc_drop``
below production's. With a version in production and no common set at all, the gate refuses
and says how to make one. The floor (``promotion_min_auroc``) is on the version's own
validation AUROC: it compares with nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from repurpose.contracts.manifest import Manifest
from repurpose.contracts.models import ModelEvaluation
from repurpose.contracts.retrieval import RetrievalResult
from repurpose.settings import Settings

_TOLERANCE = 1e-12  # a drop equal to the allowed one passes, whatever the float rounding


class Evaluated(Protocol):
    """What the gates read of a version (the registry's version record)."""

    @property
    def version(self) -> int: ...
    @property
    def manifest(self) -> Manifest: ...
    @property
    def evaluations(self) -> Sequence[ModelEvaluation]: ...
    @property
    def retrieval(self) -> Sequence[RetrievalResult]: ...


def gate_failures(name: str, candidate: Evaluated, champion: Evaluated | None, settings: Settings) -> list[str]:
    """Why ``candidate`` may not replace ``champion`` (the production version, if any) in
    production; empty when every gate passes."""
    auroc = candidate.manifest.val_metrics.auroc
    if not math.isfinite(auroc):
        return ["it has no validation AUROC (not a number)"]
    failures = []
    if auroc < settings.promotion_min_auroc:
        failures.append(
            f"its validation AUROC {auroc:.4f} is below the minimum {settings.promotion_min_auroc:.4f} "
            "(promotion_min_auroc)"
        )
    if champion is None:
        return failures
    compared = 0
    who = f"production version {champion.version}"
    auroc_drop = settings.promotion_max_auroc_drop

    if _same_validation(candidate.manifest, champion.manifest):
        reference = champion.manifest.val_metrics.auroc
        if math.isfinite(reference):
            compared += 1
            if reference - auroc > auroc_drop + _TOLERANCE:
                failures.append(
                    f"on the validation pairs both were validated on, its AUROC {auroc:.4f} is "
                    f"{reference - auroc:.4f} below {who}'s {reference:.4f}, more than the {auroc_drop:.4f} allowed "
                    "(promotion_max_auroc_drop)"
                )

    theirs = {_evaluation_key(e): e for e in champion.evaluations if _fair(e)}
    for mine in (e for e in candidate.evaluations if _fair(e)):
        other = theirs.get(_evaluation_key(mine))
        if other is None:
            continue
        ours, reference = mine.metrics.auroc, other.metrics.auroc
        if not (math.isfinite(ours) and math.isfinite(reference)):
            continue  # one class only: there is no AUROC to compare
        compared += 1
        if reference - ours > auroc_drop + _TOLERANCE:
            failures.append(
                f"on {_rows(mine)} its AUROC {ours:.4f} is {reference - ours:.4f} below {who}'s {reference:.4f}, "
                f"more than the {auroc_drop:.4f} allowed (promotion_max_auroc_drop)"
            )

    retrieval_drop = settings.promotion_max_retrieval_drop
    held = {r.evaluation_set: r for r in champion.retrieval}
    for mine_r in candidate.retrieval:
        other_r = held.get(mine_r.evaluation_set)
        if other_r is None:
            continue
        compared += 1
        for label, ours, reference in (
            ("mean BEDROC", mine_r.summary.mean_bedroc, other_r.summary.mean_bedroc),
            ("mean AUROC", mine_r.summary.mean_auroc, other_r.summary.mean_auroc),
        ):
            if reference - ours > retrieval_drop + _TOLERANCE:
                failures.append(
                    f"on held-out set {mine_r.heldout} (decoys: {mine_r.decoys}) its retrieval {label} {ours:.4f} "
                    f"is {reference - ours:.4f} below {who}'s {reference:.4f}, more than the {retrieval_drop:.4f} "
                    "allowed (promotion_max_retrieval_drop)"
                )

    if compared == 0:
        failures.append(
            f"it was never evaluated on the same rows as {who}, so the two cannot be compared: their validation "
            "pairs differ and no dataset part (without training rows) or held-out retrieval set was evaluated for "
            f"both; evaluate both versions on the same rows (`repurpose models evaluate {name} VERSION --dataset "
            "ID`, or `--retrieval FILE`), then promote again"
        )
    return failures


def _same_validation(candidate: Manifest, champion: Manifest) -> bool:
    return bool(candidate.val_data_sha256) and candidate.val_data_sha256 == champion.val_data_sha256


def _fair(evaluation: ModelEvaluation) -> bool:
    """Whether an evaluation measures prediction: none of its rows trained its version."""
    return not evaluation.training_overlap


def _evaluation_key(evaluation: ModelEvaluation) -> tuple[str, str | None, str]:
    return evaluation.dataset_id, evaluation.split_id, evaluation.part


def _rows(evaluation: ModelEvaluation) -> str:
    rows = "every row" if evaluation.split_id is None else f"part {evaluation.part} of split {evaluation.split_id}"
    return f"dataset {evaluation.dataset_id[:12]} ({rows})"
