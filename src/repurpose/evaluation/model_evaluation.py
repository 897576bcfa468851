"""Evaluating a registered model version: a Ray task, the only place the registry's weights are loaded.

``ModelRegistry.evaluate`` decides which rows (a dataset's, or one part of a split) and awaits
``evaluate_task`` (``num_cpus=1``, through ``runtime.tasks.await_task``): it loads the rows, refuses
rows the version trained on unless allowed (by its lineage: the train part of its split), then
loads the published model and measures it at its threshold. The task declares no GPU, so with
``device=auto`` it predicts on the CPU; an explicit ``cuda`` setting puts it on that GPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ray
from pydantic import BaseModel

from repurpose.contracts.models import EvaluationPart
from repurpose.errors import InvalidInput, NotFound
from repurpose.runtime.artifacts import ArtifactStore
from repurpose.runtime.tasks import reports_start
from repurpose.settings import Settings

if TYPE_CHECKING:
    from repurpose.data.pairs import PairSet

# The rows, metrics and model modules (pandas, RDKit, scikit-learn, PyTorch) are imported inside the
# task: the registry grain that submits it imports this module and needs none of them.


class TrainingRows(BaseModel):
    """The training rows of a version as its lineage names them, for the overlap check."""

    who: str
    dataset_id: str | None
    split_id: str | None
    allow_overlap: bool = False


def training_overlap(evaluated: PairSet, training: PairSet) -> int:
    """How many evaluated rows are training rows: the same (canonical SMILES, protein) pair."""
    seen = set(zip(training.smiles, training.proteins, strict=True))
    return sum((s, p) in seen for s, p in zip(evaluated.smiles, evaluated.proteins, strict=True))


def _checked_overlap(artifacts: ArtifactStore, pairs: PairSet, rows: str, training: TrainingRows) -> int | None:
    """The evaluated rows that were training rows (None: the lineage does not say which rows);
    InvalidInput if there are any and the caller did not allow them."""
    from repurpose.data.dataset_access import load_split_pairs

    if training.dataset_id is None or training.split_id is None:
        return None
    try:
        train = load_split_pairs(artifacts, training.dataset_id, training.split_id)["train"]
    except NotFound:  # the training dataset is gone: nothing left to compare with
        return None
    overlap = training_overlap(pairs, train)
    if overlap and not training.allow_overlap:
        raise InvalidInput(
            f"{overlap:,} of the {len(pairs):,} rows of {rows} are training rows of {training.who} (the train part "
            f"of split {training.split_id} of dataset {training.dataset_id[:12]}): metrics on them measure what it "
            f"memorised, not how it predicts. Evaluate on rows it never saw (on dataset {training.dataset_id[:12]} "
            f"with no split and no part: the test part of {training.split_id}), or pass allow_overlap "
            "(`--allow-overlap`) to record the evaluation with its overlap"
        )
    return overlap


@ray.remote(num_cpus=1)
@reports_start
def evaluate_task(
    settings: Settings,
    artifact_path: str,
    dataset_id: str,
    split_id: str | None,
    part: EvaluationPart,
    training: TrainingRows,
) -> Any:
    from repurpose.data.dataset_access import load_dataset_pairs, load_split_pairs
    from repurpose.evaluation.classification_metrics import binary_metrics
    from repurpose.model.devices import resolve_compute
    from repurpose.model.published import load_published_model

    artifacts = ArtifactStore.from_settings(settings)
    if split_id is None:
        pairs = load_dataset_pairs(artifacts, dataset_id)
        rows = f"dataset {dataset_id[:12]}"
    else:
        pairs = load_split_pairs(artifacts, dataset_id, split_id)[part]
        rows = f"part {part} of split {split_id} of dataset {dataset_id[:12]}"
    if len(pairs) == 0 or pairs.labels is None:
        raise InvalidInput(f"{rows} has no labelled rows to evaluate on; choose another part or split")
    overlap = _checked_overlap(artifacts, pairs, rows, training)  # before the model: a refusal is cheap
    compute = resolve_compute(settings.device, settings.precision, gpus=0)  # the task declares no GPU
    model = load_published_model(settings, artifact_path, device=compute.device, precision=compute.precision)
    return binary_metrics(pairs.labels, model.predict(pairs), model.threshold), overlap
