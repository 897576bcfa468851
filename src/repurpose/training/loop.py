"""DrugBAN training: Adam on BCE, a checkpoint per epoch, best epoch by validation AUROC.

Deterministic for a seed on CPU: the model is initialised from the seed, epoch e shuffles
with seed + e, and the dropout RNG state travels in the checkpoint, so an interrupted run
resumed with ``resume=True`` ends with the same weights as one that never stopped.

``compute`` says where and how (``model.devices``): the model is initialised on the CPU from the
seed (the same weights on any device), then moved; every batch goes to the device, the forward
and loss run under its autocast (bf16), the backward outside it. Checkpoints hold CPU tensors
(and the CUDA generator's state beside the CPU's), so a run saved on a GPU resumes anywhere,
though bit-identical weights are promised only on the device that started it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from repurpose.contracts.training import DrugBANTraining, EpochRecord
from repurpose.data.pairs import PairSet
from repurpose.errors import CheckpointError
from repurpose.evaluation.classification_metrics import binary_metrics
from repurpose.model.devices import Compute, widened
from repurpose.model.drugban import DrugBAN, DrugBANConfig, predict_probabilities
from repurpose.model.pair_batch import PairBatch, featurize_pairs

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"


@dataclass(frozen=True)
class Progress:
    """What a progress bar needs, reported after every batch."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float


@dataclass(frozen=True)
class DrugBANTrainingResult:
    model: DrugBAN  # holding the best epoch's weights, in eval mode
    best_epoch: int
    history: list[EpochRecord]
    val_probabilities: np.ndarray


def train_drugban(
    train: PairSet,
    val: PairSet,
    config: DrugBANTraining,
    checkpoint_dir: Path,
    *,
    resume: bool = False,
    model_config: DrugBANConfig | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    compute: Compute | None = None,
) -> DrugBANTrainingResult:
    compute = compute or Compute()
    device = compute.device
    if train.labels is None or val.labels is None:
        raise ValueError("training needs labelled train and validation pairs")
    train_inputs = featurize_pairs(train.smiles, train.proteins, train.labels)
    val_inputs = featurize_pairs(val.smiles, val.proteins, val.labels)

    torch.manual_seed(config.seed)
    model = DrugBAN(model_config).to(device)  # initialised on the CPU: the same weights on any device
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    history: list[EpochRecord] = []
    best_state = _cpu_state(model)
    best_epoch, best_auroc = 0, -1.0

    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = checkpoint_dir / CHECKPOINT_FILE
    # the epoch count may change between resumes (extend or end a run early); nothing else may
    fingerprint = {
        "config": config.model_dump(exclude={"epochs"}),
        "model": model.config.to_dict(),
        "train": train.sha256,
        "val": val.sha256,
    }
    if resume and checkpoint_path.exists():
        saved = _load_checkpoint(checkpoint_path, fingerprint)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
        if device.type == "cuda" and saved.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(saved["cuda_rng"], device)
        history = [EpochRecord(**h) for h in saved["history"]]
        best_state, best_epoch, best_auroc = saved["best_state"], saved["best_epoch"], saved["best_auroc"]
        log.info("resuming after epoch %d of %d", len(history), config.epochs)

    n = len(train_inputs)
    for epoch in range(len(history) + 1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = np.random.default_rng(config.seed + epoch).permutation(n)
        batches = [order[i : i + config.batch_size] for i in range(0, n, config.batch_size)]
        if len(batches) > 1 and len(batches[-1]) < 2:  # BatchNorm cannot train on one row
            batches[-2] = np.concatenate(batches[-2:])
            batches.pop()
        total_loss = 0.0
        for i, index in enumerate(batches, start=1):
            loss = train_step(model, optimizer, train_inputs.batch(index), compute)
            total_loss += loss * len(index)
            if on_progress is not None:
                on_progress(Progress(epoch, config.epochs, i, len(batches), loss))
        probabilities = predict_probabilities(model, val_inputs, precision=compute.precision)
        scores = binary_metrics(val.labels, probabilities, 0.5)
        record = EpochRecord(
            epoch=epoch,
            train_loss=total_loss / n,
            val_auroc=scores.auroc,
            val_auprc=scores.auprc,
            seconds=time.perf_counter() - started,
        )
        history.append(record)
        if scores.auroc > best_auroc:
            best_epoch, best_auroc = epoch, scores.auroc
            best_state = _cpu_state(model)
        _save_checkpoint(
            checkpoint_path,
            {
                "fingerprint": fingerprint,
                "model": _cpu_state(model),
                "optimizer": _to_cpu(optimizer.state_dict()),
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device).cpu() if device.type == "cuda" else None,
                "history": [h.model_dump() for h in history],
                "best_state": best_state,
                "best_epoch": best_epoch,
                "best_auroc": best_auroc,
            },
        )
        if on_epoch is not None:
            on_epoch(record)

    model.load_state_dict(best_state)
    model.eval()
    return DrugBANTrainingResult(
        model=model,
        best_epoch=best_epoch,
        history=history,
        val_probabilities=predict_probabilities(model, val_inputs, precision=compute.precision),
    )


def _cpu_state(model: DrugBAN) -> dict[str, torch.Tensor]:
    """A copy of the model's state on the CPU (a device-independent snapshot)."""
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in model.state_dict().items()}


def _to_cpu(value: Any) -> Any:
    """``value`` (an optimiser's state: dicts and lists of tensors) with every tensor on the CPU."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(item) for item in value)
    return value


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    partial = path.with_suffix(".partial")
    torch.save(payload, partial)
    os.replace(partial, path)  # a crash mid-write never leaves a torn checkpoint


def _load_checkpoint(path: Path, fingerprint: dict[str, Any]) -> dict[str, Any]:
    try:
        saved: dict[str, Any] = torch.load(path, weights_only=False, map_location="cpu")
    except Exception as error:  # torch raises many types for a damaged file
        raise CheckpointError(f"{path}: cannot read the checkpoint: {error}") from error
    if saved.get("fingerprint") != fingerprint:
        raise CheckpointError(
            f"{path}: the checkpoint belongs to another run (different data or settings); "
            "use another --out directory or the same settings to resume"
        )
    return saved


def train_step(model: DrugBAN, optimizer: torch.optim.Optimizer, batch: PairBatch, compute: Compute) -> float:
    """One optimisation step on a labelled batch (moved to the compute's device): the forward under
    its autocast, BCE on the float32 logits, backward, the optimizer's step; the batch's mean loss."""
    batch = batch.to(compute.device)
    assert batch.labels is not None
    with compute.autocast():
        logits = model(batch)
    loss = F.binary_cross_entropy_with_logits(widened(logits), batch.labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()
