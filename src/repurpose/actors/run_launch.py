"""Starting a training run: the one way the service layer and the Alerts grain (retraining) start one.

``launch_run`` makes the dataset version's split if it is new, checks it, and starts the
TrainingRun grain of the request's signature (the same request reaches the same run).
``retraining_request`` says what retraining a model version means: a run of its type, with the
training settings of its lineage, on the newest version of the dataset name it was trained on,
under the same model name.
"""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import Engine

from repurpose.actors.dataset_version import DatasetVersion, list_datasets
from repurpose.actors.training_run import TrainingRun, run_signature
from repurpose.contracts.datasets import DatasetSummary, SplitSummary
from repurpose.contracts.models import ModelVersionDetail
from repurpose.contracts.splits import DEFAULT_SPLIT_ID, parse_split_id
from repurpose.contracts.training import (
    EnsembleTraining,
    ForestTraining,
    TrainingConfig,
    XGBTraining,
    drugban_config,
    used_settings,
)
from repurpose.contracts.training_runs import RunDetail, RunRequest
from repurpose.errors import InvalidInput
from repurpose.grains import GrainClient


async def launch_run(grains: GrainClient, request: RunRequest) -> RunDetail:
    """Start (or find) the run for ``request`` on its dataset version's split; the model name
    defaults to ``<type>-<dataset name>``."""
    summary: DatasetSummary = await grains.acall(DatasetVersion, request.dataset_id, "summary")
    spec = parse_split_id(request.split_id)
    split: SplitSummary = await grains.acall(
        DatasetVersion, request.dataset_id, "split", spec.kind, spec.seed, list(spec.fractions)
    )
    _check_split(split, summary.dataset_id)
    name = request.model_name or default_model_name(request.model_type, summary.name)
    detail: RunDetail = await grains.acall(TrainingRun, run_signature(request), "start", request, name)
    return detail


async def retraining_request(grains: GrainClient, engine: Engine, detail: ModelVersionDetail) -> RunRequest:
    """A run of ``detail``'s model type, with its lineage's training settings (epochs, batch size, lr,
    seed, members), on the newest version of the dataset name it was trained on (its lineage's split
    kind and seed), registering under the same name. InvalidInput when its lineage names no dataset
    (a version trained from files). With no newer dataset version the request is the one that trained
    ``detail``: its run, already done (``launch_run`` answers ``created=False``)."""
    dataset_id = detail.lineage.dataset_id
    if dataset_id is None:
        raise InvalidInput(
            f"{detail.name} v{detail.version} names no training dataset (trained from files): nothing to retrain on"
        )
    trained_on: DatasetSummary = await grains.acall(DatasetVersion, dataset_id, "summary")
    versions = await asyncio.to_thread(list_datasets, engine)
    newest = max(
        (v for v in versions if v.name == trained_on.name), key=lambda v: (v.created_at, v.dataset_id), default=None
    )
    stack = detail.manifest.ensemble
    members = list(stack.member_types) if stack is not None else None
    return RunRequest(
        dataset_id=(newest or trained_on).dataset_id,
        split_id=detail.lineage.split_id or DEFAULT_SPLIT_ID,
        model_type=detail.model_type,  # type: ignore[arg-type]  # a registered version's type is a model type
        members=members,
        model_name=detail.name,
        **lineage_settings(detail.lineage.training, used_settings(detail.model_type, members)),  # type: ignore[arg-type]
    )


def lineage_settings(training: TrainingConfig, used: frozenset[str]) -> dict[str, int | float]:
    """The request settings (epochs, batch_size, lr, seed) a version was trained with, of those in ``used``."""
    found: dict[str, int | float] = {}
    drugban = drugban_config(training)
    if drugban is not None:
        found = {"epochs": drugban.epochs, "batch_size": drugban.batch_size, "lr": drugban.lr, "seed": drugban.seed}
    else:  # rf and xgb (alone or as members) draw with one seed; knn draws nothing
        parts = training.members if isinstance(training, EnsembleTraining) else (training,)
        seeds = [part.seed for part in parts if isinstance(part, ForestTraining | XGBTraining)]
        if seeds:
            found = {"seed": seeds[0]}
    return {name: value for name, value in found.items() if name in used}


def default_model_name(model_type: str, dataset_name: str) -> str:
    """``<model type>-<dataset name>``, lower-cased, other characters as one '-', at most 64."""
    cleaned = re.sub(r"[^a-z0-9._]+", "-", dataset_name.lower()).strip("-._")
    return f"{model_type}-{cleaned or 'dataset'}"[:64].rstrip("-._")


def _check_split(split: SplitSummary, dataset_id: str) -> None:
    """A run trains on the split's train part and picks its epoch and threshold on the val part."""
    for part, size in (("train", split.train.size), ("val", split.val.size)):
        if size == 0:
            raise InvalidInput(
                f"split {split.split_id} of dataset {dataset_id[:12]} has no {part} rows: a run trains on its "
                "train part and picks its epoch and threshold on its val part; choose other fractions"
            )
